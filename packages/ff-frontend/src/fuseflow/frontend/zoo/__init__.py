"""The model zoo: readable PyTorch modules with configurable sizes, by name.

Each :class:`ModelSpec` declares its options (typed, with defaults), the index names
of its inputs, a default data set and a factory ``(options, dataset) -> (module,
example_inputs)``. Layers are submodules marked ``fuseflow_layer = True`` (the
``partial`` fusion preset makes one group per layer).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fuseflow.ir.errors import FrontendError, UnknownNameError, UsageError


@dataclass(frozen=True)
class Option:
    name: str
    type: type
    default: Any
    help: str = ""
    minimum: float | None = None  # None: integers default to >= 1 (>= 0 when their default is 0)

    def check(self, model: str, value: Any) -> Any:
        low = self.minimum
        if low is None and self.type is int:
            low = 0 if self.default == 0 else 1
        if low is not None and isinstance(value, (int, float)) and not isinstance(value, bool) and value < low:
            raise UsageError(f"-m {self.name}={value}: model {model}'s option {self.name} must be >= {low:g}")
        return value


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    options: tuple[Option, ...]
    factory: Callable[[dict[str, Any], Any], tuple[Any, tuple[Any, ...]]]
    index_names: dict[str, tuple[str, ...]] = field(default_factory=dict)
    default_dataset: str | None = None
    dataset_kinds: tuple[str, ...] = ()  # kinds of data set it accepts (graph, images, matrix)
    #: value tiling (``--block B``): the model's dimensions B must divide; None = no tiling
    tiled_dims: Callable[[dict[str, Any]], dict[str, int]] | None = None

    def parse_options(self, given: dict[str, str] | None) -> dict[str, Any]:
        """Typed options: defaults overridden by ``given`` (strings, e.g. from ``-m k=v``)."""
        out = {o.name: o.default for o in self.options}
        by_name = {o.name: o for o in self.options}
        for key, raw in (given or {}).items():
            if key not in by_name:
                valid = ", ".join(by_name) or "none"
                raise FrontendError(f"model {self.name} has no option {key!r} (options: {valid})")
            out[key] = by_name[key].check(self.name, _convert(self.name, by_name[key], raw))
        return out


def _convert(model: str, opt: Option, raw: Any) -> Any:
    if not isinstance(raw, str):
        return opt.type(raw)
    try:
        if opt.type is bool:
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        return opt.type(raw)
    except ValueError:
        raise UsageError(f"-m {opt.name}={raw}: model {model}'s option {opt.name} "
                         f"is not a {opt.type.__name__}") from None


def _specs() -> dict[str, ModelSpec]:
    from fuseflow.frontend.zoo import attention, gcn, gpt, graphsage, sae

    return {s.name: s for s in (gcn.SPEC, graphsage.SPEC, sae.SPEC, gpt.SPEC, attention.SPEC)}


def models() -> dict[str, ModelSpec]:
    """All zoo models by name."""
    return _specs()


def get(name: str) -> ModelSpec:
    specs = _specs()
    if name not in specs:
        raise UnknownNameError(f"unknown model {name!r} (zoo: {', '.join(specs)};"
                               " or path/to/file.py:factory)")
    return specs[name]


__all__ = ["ModelSpec", "Option", "models", "get"]
