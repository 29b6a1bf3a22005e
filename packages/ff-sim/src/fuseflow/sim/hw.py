"""Hardware parameters: named presets (``presets/*.toml``) or a user TOML file."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any

from fuseflow.ir.errors import DataError, UnknownNameError


@dataclass(frozen=True)
class Poly:
    """A latency that depends on the tile size: ``b2*B^2 + b*B + c``."""

    b2: int = 0
    b: int = 0
    c: int = 1

    def at(self, block: int) -> int:
        return max(1, self.b2 * block * block + self.b * block + self.c)


@dataclass(frozen=True)
class MemoryConfig:
    enabled: bool = True
    channels: int = 8
    latency: int = 2
    initiation_interval: int = 2
    startup: int = 14
    word_bytes: int = 4
    seg_words_per_ref: int = 2
    crd_batch: int = 8
    val_batch: int = 8
    write_batch: int = 8


@dataclass(frozen=True)
class ScannerConfig:
    startup_delay: int = 0
    data_load_factor: float = 0.0
    initial_delay: int = 0
    output_latency: int = 1
    sequential_interval: int = 1
    miss_latency: int = 0


@dataclass(frozen=True)
class TimingConfig:
    alu_latency: Poly = Poly(1, 0, 0)
    alu_ii: Poly = Poly(0, 0, 1)
    matmul_latency: Poly = Poly(0, 2, -1)
    matmul_ii: Poly = Poly(0, 1, 0)
    unary_latency: Poly = Poly(0, 1, 0)
    val_array_latency: Poly = Poly(1, 0, 0)
    reduce_latency: Poly = Poly(1, 0, 0)


@dataclass(frozen=True)
class HwConfig:
    name: str = "default"
    memory: MemoryConfig = MemoryConfig()
    scanner: ScannerConfig = ScannerConfig()
    timing: TimingConfig = TimingConfig()
    channel_depth: int | None = None  # None = unbounded
    stream_depths: tuple[tuple[str, int], ...] = field(default=())  # by stream name or "s<id>"
    clock_ghz: float = 1.0  # only to state cycles as time (ff bench, reports); cycles do not depend on it

    def depth_of(self, stream_id: int, stream_name: str) -> int | None:
        for key, d in self.stream_depths:
            if key in (stream_name, f"s{stream_id}", str(stream_id)):
                return d if d > 0 else None
        return self.channel_depth

    def with_options(self, channel_depth: int | None = None,
                     stream_depths: dict[str, int] | None = None) -> HwConfig:
        hw = self if channel_depth is None else replace(self, channel_depth=channel_depth if channel_depth > 0 else None)
        return replace(hw, stream_depths=hw.stream_depths + tuple(stream_depths.items())) if stream_depths else hw


def load_hw(spec: str | Path | HwConfig) -> HwConfig:
    """A preset by name (``default``, ``no-hbm``) or a TOML file path."""
    if isinstance(spec, HwConfig):
        return spec
    name = str(spec)
    path = Path(name)
    if path.suffix == ".toml" or path.exists():
        if not path.is_file():
            raise DataError(f"hardware file {path} does not exist")
        text, origin = path.read_text(), str(path)
    else:
        presets = resources.files("fuseflow.sim") / "presets"
        res = presets / f"{name}.toml"
        if not res.is_file():
            known = ", ".join(sorted(p.name[:-5] for p in presets.iterdir() if p.name.endswith(".toml")))
            raise UnknownNameError(f"unknown hardware preset {name!r} (known: {known}; or give a .toml file)")
        text, origin = res.read_text(), f"preset {name}"
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise DataError(f"{origin}: {e}") from None
    return hw_from_dict(raw, origin, default_name=path.stem if path.suffix else name)


SECTIONS = ("memory", "scanner", "timing", "channels")
TOP_KEYS = ("name", "clock_ghz")
#: fields that must be at least 1 (the rest of the integers must not be negative)
POSITIVE = {"channels", "initiation_interval", "word_bytes", "crd_batch", "val_batch", "write_batch",
            "sequential_interval"}


def _number(origin: str, where: str, v: Any, kind: type, minimum: float) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or (kind is int and not isinstance(v, int)):
        raise DataError(f"{origin}: {where} = {v!r} is not {'an integer' if kind is int else 'a number'}")
    if v < minimum:
        raise DataError(f"{origin}: {where} = {v!r} must be >= {minimum:g}")
    return kind(v)


def hw_from_dict(raw: dict[str, Any], origin: str = "hardware file", default_name: str = "hw") -> HwConfig:
    unknown = [k for k in raw if k not in SECTIONS and k not in TOP_KEYS]
    if unknown:
        raise DataError(f"{origin}: unknown section or key {unknown[0]!r} (known: {', '.join(TOP_KEYS + SECTIONS)})")
    for key in SECTIONS:
        if not isinstance(raw.get(key, {}), dict):
            raise DataError(f"{origin}: [{key}] must be a table")

    def section(cls: type, key: str) -> Any:
        data = raw.get(key, {})
        known = [f.name for f in fields(cls)]
        kwargs = {}
        for k, v in data.items():
            if k not in known:
                raise DataError(f"{origin}: unknown key [{key}] {k} (known: {', '.join(known)})")
            default = getattr(cls(), k)
            if isinstance(v, dict):
                if not isinstance(default, Poly):
                    raise DataError(f"{origin}: [{key}] {k} is not a polynomial of the block size")
                v = Poly(*(_number(origin, f"[{key}] {k}.{c}", v.get(c, 0), int, -2**31) for c in ("b2", "b", "c")))
            elif isinstance(default, bool):
                if not isinstance(v, bool):
                    raise DataError(f"{origin}: [{key}] {k} = {v!r} must be true or false")
            elif isinstance(default, (int, float)):
                v = _number(origin, f"[{key}] {k}", v, type(default), 1 if k in POSITIVE else 0)
            kwargs[k] = v
        return cls(**kwargs)

    ch = raw.get("channels", {})
    bad = [k for k in ch if k not in ("depth", "streams")]
    if bad:
        raise DataError(f"{origin}: unknown key [channels] {bad[0]} (known: depth, streams)")
    depth = _number(origin, "[channels] depth", ch.get("depth", 0), int, 0)
    streams = tuple((str(k), _number(origin, f"[channels.streams] {k}", v, int, 0))
                    for k, v in ch.get("streams", {}).items())
    clock = _number(origin, "clock_ghz", raw.get("clock_ghz", 1.0), float, 1e-6)
    return HwConfig(name=str(raw.get("name", default_name)), clock_ghz=clock, memory=section(MemoryConfig, "memory"),
                    scanner=section(ScannerConfig, "scanner"), timing=section(TimingConfig, "timing"),
                    channel_depth=depth if depth > 0 else None, stream_depths=streams)
