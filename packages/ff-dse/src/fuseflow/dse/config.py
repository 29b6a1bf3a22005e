"""One point of a design space: a frozen :class:`Config` with a canonical JSON form and a key."""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, replace
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

DISTRIBUTIONS = ("ff-ir", "ff-frontend", "ff-fusion", "ff-sim", "ff-dse")


@lru_cache(maxsize=1)
def code_version() -> str:
    """Versions of the installed ff-* distributions, e.g. ``ff-ir=0.1.0,ff-sim=0.1.0``."""
    parts = []
    for dist in DISTRIBUTIONS:
        try:
            parts.append(f"{dist}={metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{dist}=missing")
    return ",".join(parts)


def _options(items: Any) -> tuple[tuple[str, str], ...]:
    pairs = items.items() if isinstance(items, dict) else items
    return tuple(sorted((str(k), str(v)) for k, v in pairs))


def normalize_par(items: Any) -> tuple[tuple[str | None, int], ...]:
    """Parallelization as (index, factor) pairs; index None = chosen by the compiler; factor 1 dropped."""
    return tuple((None if i in (None, "*") else str(i), int(f)) for i, f in items if int(f) > 1)


@dataclass(frozen=True)
class Config:
    """What to compile and simulate. ``options`` are model options (``-m KEY=VALUE``)."""

    model: str
    dataset: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    fusion: str = "partial"
    order: str | None = None
    par: tuple[tuple[str | None, int], ...] = ()
    block: int | None = None
    hw: str = "default"

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", _options(self.options))
        object.__setattr__(self, "par", normalize_par(self.par))
        if self.block is not None:
            object.__setattr__(self, "block", int(self.block))

    # -- canonical form -------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "dataset": self.dataset,
            "options": dict(self.options),
            "fusion": self.fusion,
            "order": self.order,
            "par": [[i, f] for i, f in self.par],
            "block": self.block,
            "hw": self.hw,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Config:
        return cls(
            model=d["model"],
            dataset=d.get("dataset"),
            options=_options(d.get("options") or {}),
            fusion=d.get("fusion", "partial"),
            order=d.get("order"),
            par=normalize_par(d.get("par") or ()),
            block=d.get("block"),
            hw=d.get("hw", "default"),
        )

    def canonical(self) -> str:
        """Sorted-key, whitespace-free JSON: equal configs give equal text."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def key(self) -> str:
        """sha256 of the canonical config, the code version and (for a file) the hw file's bytes."""
        h = hashlib.sha256()
        h.update(self.canonical().encode())
        h.update(b"\n" + code_version().encode())
        hw = Path(self.hw)
        if self.hw not in ("default", "no-hbm") and hw.is_file():
            h.update(b"\n" + hashlib.sha256(hw.read_bytes()).hexdigest().encode())
        return h.hexdigest()

    def memory_hint(self) -> int:
        """Estimated peak bytes of evaluating this config (0: unknown); executors schedule by it."""
        from fuseflow.dse.sizes import memory_hint

        return memory_hint(self.model, self.dataset, self.options)

    def work_hint(self) -> float:
        """Estimated seconds of evaluating this config (0: unknown); studies start the longest first."""
        from fuseflow.dse.sizes import work_hint

        return work_hint(self.model, self.dataset, self.options, self.fusion)

    def with_(self, **changes: Any) -> Config:
        return replace(self, **changes)

    # -- presentation ---------------------------------------------------------------
    def label(self) -> str:
        """Short human label: ``gcn/karate/partial``, plus any non-default knob."""
        parts = [self.model, self.dataset or "-", self.fusion]
        if self.order:
            parts.append(f"order={self.order}")
        if self.par:
            parts.append("par=" + format_par(self.par))
        if self.block:
            parts.append(f"block={self.block}")
        if self.hw != "default":
            parts.append(f"hw={self.hw}")
        if self.options:
            parts.append(",".join(f"{k}={v}" for k, v in self.options))
        return "/".join(parts)

    def compile_command(self) -> str:
        """The ``ff compile`` command line that reproduces this configuration."""
        args = ["ff", "compile", self.model]
        if self.dataset:
            args += ["--dataset", self.dataset]
        for k, v in self.options:
            args += ["-m", f"{k}={v}"]
        args += ["--fusion", self.fusion]
        if self.order:
            args += ["--order", self.order]
        for i, f in self.par:
            args += ["--par", f"{i or '*'}:{f}"]
        if self.block:
            args += ["--block", str(self.block)]
        if self.hw != "default":
            args += ["--hw", self.hw]
        return shlex.join(args)


def parse_par(text: str | None) -> tuple[tuple[str | None, int], ...]:
    """``"i:4,j:2"`` -> ``(("i", 4), ("j", 2))``; ``"4"`` or ``"*:4"`` -> ``((None, 4),)`` (index
    chosen by the compiler); empty or ``none`` -> ``()``."""
    if text is None:
        return ()
    text = str(text).strip()
    if text.lower() in ("", "none", "-"):
        return ()
    out = []
    for part in text.split(","):
        idx, _, factor = part.rpartition(":")
        idx = idx.strip() or "*"
        if not factor.strip().isdigit():
            from fuseflow.ir.errors import UnknownNameError

            raise UnknownNameError(f"bad parallelization {part!r} (expected INDEX:FACTOR, e.g. i:4)")
        out.append((idx, int(factor)))
    return normalize_par(out)


def format_par(par: tuple[tuple[str | None, int], ...]) -> str:
    return ",".join(f"{i or '*'}:{f}" for i, f in par)
