"""Design spaces: named axes with value lists; configurations are their product.

Axes are ``dataset``, ``fusion``, ``order``, ``par``, ``block``, ``hw`` and ``opt.NAME``
(a model option, ``-m NAME=VALUE``). The declared space comes from the passes' own knobs
(``fuseflow.fusion.api.knobs()``) when that API exists; a space file (YAML or TOML) or CLI
flags narrow it. A fusion value ``candidates`` or ``candidates:CAP`` expands into the
generated contiguous groupings of the model's op sequence (see :mod:`fuseflow.dse.candidates`).
"""

from __future__ import annotations

import itertools
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fuseflow.dse.config import Config, format_par, normalize_par, parse_par
from fuseflow.ir.errors import DataError, UnknownNameError

CONFIG_AXES = ("dataset", "fusion", "order", "par", "block", "hw")
DEFAULT_FUSIONS = ("unfused", "partial", "full")
MAX_CONFIGS = 100_000


@dataclass(frozen=True)
class Knob:
    """A tunable with its value space (mirrors ``fuseflow.fusion.api.Knob``)."""

    name: str
    values: tuple[Any, ...]
    help: str = ""


def axis_of(name: str) -> str:
    """The axis a knob name feeds: a config field, else a model/pass option."""
    return name if name in CONFIG_AXES or name.startswith("opt.") else f"opt.{name}"


def declared_knobs(model: str | None = None) -> list[Knob]:
    """The passes' knobs from ``fuseflow.fusion.api.knobs(model)`` (resolved for ``model``),
    or the fusion presets if ff-fusion is absent."""
    try:
        from fuseflow.fusion import api
    except ImportError:
        return [Knob("fusion", DEFAULT_FUSIONS, "fusion preset")]
    raw = api.knobs(model)
    return [Knob(str(k.name), tuple(k.values), str(getattr(k, "help", ""))) for k in raw]


def _norm(axis: str, value: Any) -> Any:
    if axis == "par":
        if value is None:
            return ()
        if isinstance(value, (list, tuple)):
            if len(value) == 2 and isinstance(value[1], int) and not isinstance(value[0], (list, tuple)):
                value = (value,)  # one (index, factor) pair
            return normalize_par(value)
        return parse_par(value)
    if axis == "block":
        return None if value in (None, "", "none", "None", 0, "0") else int(value)
    if axis in ("dataset", "order"):
        return None if value in (None, "", "none", "None") else str(value)
    return str(value)


@dataclass(frozen=True)
class Space:
    """A model and, per axis, the values to sweep (in order)."""

    model: str
    axes: tuple[tuple[str, tuple[Any, ...]], ...]

    @classmethod
    def declare(cls, model: str, knobs: list[Knob] | None = None) -> Space:
        knobs = declared_knobs(model) if knobs is None else knobs
        axes: dict[str, tuple[Any, ...]] = {}
        for k in knobs:
            axis = axis_of(k.name)
            axes[axis] = tuple(_norm(axis, v) for v in k.values) or axes.get(axis, ())
        axes.setdefault("fusion", DEFAULT_FUSIONS)
        return cls(model, tuple(axes.items()))

    def get(self, axis: str) -> tuple[Any, ...]:
        return dict(self.axes).get(axis, ())

    def narrow(self, axis: str, values: list[Any] | tuple[Any, ...]) -> Space:
        """Restrict (or, for an axis the knobs leave open, set) one axis's values."""
        axis = axis_of(axis)
        vals = tuple(dict.fromkeys(_norm(axis, v) for v in values))
        declared = self.get(axis)
        if declared and axis != "fusion" and not axis.startswith("opt."):
            bad = [v for v in vals if v not in declared]
            if bad:
                raise UnknownNameError(f"{axis} values {bad} are not in the declared space {list(declared)}")
        if axis == "fusion" and declared:
            bad = [v for v in vals if v not in declared and not _is_generated(v)]
            if bad:
                raise UnknownNameError(f"fusion values {bad} are not in the declared space {list(declared)}")
        axes = dict(self.axes)
        axes[axis] = vals
        return Space(self.model, tuple(axes.items()))

    def size(self) -> int:
        n = 1
        for _, vals in self.axes:
            n *= max(1, len(vals))
        return n

    def configs(self, expand: Callable[[Config, str], list[str]] | None = None) -> Iterator[Config]:
        """Every configuration, in axis order. ``expand`` turns a generated fusion value
        (``candidates[:CAP]`` or ``g1=a,b;...`` lists) into concrete grouping specs."""
        if self.size() > MAX_CONFIGS:
            raise UnknownNameError(f"the space has {self.size()} configurations (> {MAX_CONFIGS}); narrow it")
        names = [a for a, v in self.axes if v]
        for combo in itertools.product(*(self.get(a) for a in names)):
            fields: dict[str, Any] = {}
            opts: dict[str, str] = {}
            for axis, value in zip(names, combo, strict=False):
                if axis.startswith("opt."):
                    opts[axis[4:]] = str(value)
                else:
                    fields[axis] = value
            cfg = Config(model=self.model, options=tuple(opts.items()), **fields)
            if _is_generated(cfg.fusion):
                expander = expand or _default_expand
                for spec in expander(cfg, cfg.fusion):
                    yield cfg.with_(fusion=spec)
            else:
                yield cfg

    def describe(self) -> str:
        def show(axis: str, v: Any) -> str:
            return (format_par(v) or "none") if axis == "par" else str(v)

        return "; ".join(f"{a}=[{', '.join(show(a, x) for x in v)}]" for a, v in self.axes if v) \
            + f"  ({self.size()} points)"

    def pin_unnamed(self, named: set[str]) -> Space:
        """Axes not in ``named`` (except fusion and dataset) keep only their first value."""
        axes = {a: (v if a in named or a in ("fusion", "dataset") else v[:1]) for a, v in self.axes}
        return Space(self.model, tuple(axes.items()))


def _is_generated(fusion: str) -> bool:
    return fusion == "candidates" or fusion.startswith("candidates:")


def _default_expand(cfg: Config, value: str) -> list[str]:
    from fuseflow.dse.candidates import candidates_for

    cap = int(value.partition(":")[2] or 4)
    return candidates_for(cfg, cap=cap)


# -- space files ------------------------------------------------------------------------

def load_space_file(path: str | Path) -> dict[str, list[Any]]:
    """Read a YAML or TOML space file into ``{axis: [values]}``.

    Keys: ``dataset``/``datasets``, ``fusion``, ``order``, ``par``, ``block``, ``hw``, an
    ``options`` table of model options, and a ``knobs`` table of other pass knobs. A scalar
    value means a one-value axis.
    """
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as e:
        raise DataError(f"cannot read space file {p}: {e}") from None
    try:
        if p.suffix == ".toml":
            raw = tomllib.loads(text)
        else:
            import yaml

            raw = yaml.safe_load(text) or {}
    except Exception as e:  # noqa: BLE001 - any parser error becomes a DataError
        raise DataError(f"space file {p} is not valid {p.suffix.lstrip('.') or 'YAML'}: {e}") from None
    if not isinstance(raw, dict):
        raise DataError(f"space file {p} must hold a mapping of axis -> values")
    out: dict[str, list[Any]] = {}
    for key, value in raw.items():
        if key in ("options", "knobs"):
            if not isinstance(value, dict):
                raise DataError(f"space file {p}: {key!r} must be a mapping")
            for name, vals in value.items():
                out[f"opt.{name}" if key == "options" else axis_of(name)] = _as_list(vals)
        elif key in ("datasets", "dataset"):
            out["dataset"] = _as_list(value)
        elif key in CONFIG_AXES:
            out[key] = _as_list(value)
        elif key == "model":
            continue
        else:
            raise DataError(f"space file {p}: unknown key {key!r} (known: {', '.join(CONFIG_AXES)}, options, knobs)")
    return out


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def parse_assignment(text: str) -> tuple[str, list[str]]:
    """``KEY=V1,V2`` -> ``("KEY", ["V1", "V2"])`` (a ``|`` separator keeps commas in values)."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise UnknownNameError(f"expected KEY=VALUE, got {text!r}")
    parts = value.split("|") if "|" in value else value.split(",")
    return key.strip(), [v.strip() for v in parts]


def build_space(
    model: str,
    *,
    space_file: str | Path | None = None,
    datasets: list[str] | None = None,
    options: list[str] | None = None,
    settings: list[str] | None = None,
    knobs: list[Knob] | None = None,
    only_named: bool = False,
) -> Space:
    """Declared space of ``model`` narrowed by a space file, then by CLI flags. With
    ``only_named``, knobs that neither names keep their first declared value."""
    space = Space.declare(model, knobs)
    named: set[str] = set()
    if space_file is not None:
        for axis, vals in load_space_file(space_file).items():
            space = space.narrow(axis, vals)
            named.add(axis_of(axis))
    if datasets:
        space = space.narrow("dataset", datasets)
    for text in options or []:
        key, _, value = text.partition("=")
        if not _:
            raise UnknownNameError(f"expected -m KEY=VALUE, got {text!r}")
        vals = value.split("|")  # -m VALUE is one value; KEY=a|b sweeps two
        space = space.narrow(f"opt.{key.strip()}", [v.strip() for v in vals])
        named.add(f"opt.{key.strip()}")
    for text in settings or []:
        key, vals = parse_assignment(text)
        space = space.narrow(key, vals)
        named.add(axis_of(key))
    return space.pin_unnamed(named) if only_named else space
