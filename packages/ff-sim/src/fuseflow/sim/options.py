"""The fast engine's settings, in one typed object (``ff sim`` flags and the Python API fill it).
``jit`` and ``boundscheck`` are fixed once per process, when the engine's loops first load."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, fields
from typing import Any

from fuseflow.ir.errors import UsageError

MAX_THREADS = 64


@dataclass(frozen=True)
class EngineOptions:
    """Settings of the fast engine (``reuse``: of both engines). None of them changes a
    figure (cycles, counters); they trade memory, time and checking. Outputs are the same
    up to float rounding (a reused kernel's outputs come from the interpreter)."""

    queue_capacity: int = 1 << 14  # tokens per stream queue at first
    queue_grown: int = 1 << 18  # a queue its reader keeps emptying doubles up to this
    threads: int = 2  # step functions of independent nodes run at once on this many threads
    profile: bool = False  # per-kernel wall time, path and peak memory on stderr
    show_queues: bool = False  # each streamed kernel's biggest queues on stdout
    # how the loops are compiled, once per process (None: as already chosen, else on / off)
    jit: bool | None = None  # False: the compiled loops run as plain Python (slow; debugging)
    boundscheck: bool | None = None  # True: the per-token step functions check their indices too
    reuse: bool = True  # a kernel equal to one already simulated reuses its figures (fuseflow.sim.reuse)
    spill_at: int = 1 << 22  # a stream queue longer than this overflows to disk (0: never); 4M tokens: 80 MB
    spill_dir: str | None = None  # where overflowing queues go (None: the system's temporary directory)
    intermediates: bool = True  # False: the result keeps only the program's outputs, each other freed after its last reader

    def __post_init__(self) -> None:
        kinds = {"bool": "true or false", "str": "a string", "int": "an integer"}  # first match of the type
        for f in fields(self):
            value = getattr(self, f.name)
            want = next(k for k in kinds if k in str(f.type))
            if type(value).__name__ != want and not (value is None and "None" in str(f.type)):
                raise _bad(f.name, value, f"must be {kinds[want]}")
        checks = {"queue_capacity": (self.queue_capacity >= 1, "must be >= 1 token"),
                  "queue_grown": (self.queue_grown >= 1, "must be >= 1 token"),  # < capacity: never grown
                  "threads": (1 <= self.threads <= MAX_THREADS, f"must be between 1 and {MAX_THREADS}"),
                  "spill_at": (self.spill_at >= 0, "must be >= 0 tokens (0: never spill to disk)"),
                  "spill_dir": (self.spill_dir is None or os.path.isdir(self.spill_dir),
                                "must be an existing directory")}
        for name, (ok, why) in checks.items():
            if not ok:
                raise _bad(name, getattr(self, name), why)

    @classmethod
    def of(cls, value: EngineOptions | dict[str, Any] | None) -> EngineOptions:
        """``value`` itself, the defaults for None, or the options a dict names."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            known = {f.name for f in fields(cls)}
            unknown = sorted(set(value) - known)
            if unknown:
                raise UsageError(f"unknown engine option(s) {', '.join(unknown)} (known: {', '.join(sorted(known))})")
            return cls(**value)
        raise UsageError(f"engine options must be an EngineOptions or a dict, not {type(value).__name__}")


def _bad(name: str, value: object, why: str) -> UsageError:
    flag = f"--no-{name}" if name in ("jit", "reuse") else "--" + name.replace("_", "-")  # its ff sim flag
    return UsageError(f"engine option {name} ({flag}) {why}, got {value!r}")


#: how the loops are compiled, read by ``fuseflow.sim.fast.jit`` when it is first imported
COMPILE: dict[str, bool] = {"jit": True, "boundscheck": False}


def apply_compile_settings(opts: EngineOptions) -> None:
    """Choose how the fast engine's loops are compiled, before they first load; once they
    are loaded, a different choice is a usage error."""
    want = {k: v for k, v in (("jit", opts.jit), ("boundscheck", opts.boundscheck)) if v is not None}
    loaded = sys.modules.get("fuseflow.sim.fast.jit")
    if loaded is None:
        COMPILE.update(want)
        return
    have = {"jit": bool(loaded.JIT_REQUESTED), "boundscheck": bool(loaded.CHECKED)}
    if not have["jit"]:  # plain Python: bounds are always checked, either answer holds
        have["boundscheck"] = want.get("boundscheck", False)
    if any(have[k] != v for k, v in want.items()):
        raise UsageError(
            f"the fast engine's loops are already compiled in this process with jit={have['jit']}, "
            f"boundscheck={have['boundscheck']}; --no-jit/--boundscheck (EngineOptions.jit/boundscheck) "
            "take effect only in the first simulation of a process")
