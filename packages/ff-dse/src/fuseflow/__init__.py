"""FuseFlow: compile sparse PyTorch models to streaming dataflow, simulate and explore them.

``fuseflow`` spans five distributions (ff-ir, ff-frontend, ff-fusion, ff-sim, ff-dse). This
file, shipped by ff-dse alone, makes it a regular package whose ``__path__`` also holds the
other distributions' ``fuseflow`` folders, and offers the Python API lazily::

    import fuseflow
    cm = fuseflow.compile(module, example_inputs, fusion="partial")
    result = cm.simulate(check=True)
"""

from __future__ import annotations

from pkgutil import extend_path
from typing import Any

__path__ = extend_path(__path__, __name__)

_API = {"compile": "compile_module", "load": "load", "CompiledProgram": "CompiledProgram",
        "Baseline": "Baseline"}


def __getattr__(name: str) -> Any:
    if name in _API:
        from fuseflow import compiled

        return getattr(compiled, _API[name])
    raise AttributeError(f"module 'fuseflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_API])
