"""The fast engine's cold start: its loops are compiled (and cached in ``jit.CACHE_DIR``) on
the first run on a machine, tens of seconds, said aloud; ``ff sim --warmup`` does it ahead of time."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_ANNOUNCED = False


def cache_is_warm() -> bool:
    """Whether numba's cache already holds the fast engine's loops (index files present)."""
    from fuseflow.sim.fast.jit import CACHE_DIR

    return any(Path(CACHE_DIR).rglob("*.nbi"))


def announce_cold_start(write: Callable[[str], None] | None = None) -> None:
    """Once per process: a one-line notice before the loops are compiled for the first time."""
    global _ANNOUNCED
    from fuseflow.sim.fast.jit import HAVE_JIT

    if _ANNOUNCED or not HAVE_JIT or cache_is_warm():
        return
    _ANNOUNCED = True
    (write or (lambda s: print(s, file=sys.stderr, flush=True)))(
        "fuseflow: first run of the fast engine on this machine: compiling its loops (about half a "
        "minute, once; `ff sim --warmup` does it ahead of time)")


def warmup(progress: Callable[[str], None] = lambda s: None) -> float:
    """Compile every loop the fast engine has by simulating the built-in examples, which
    between them use every primitive kind; returns the seconds it took."""
    from fuseflow.ir import examples
    from fuseflow.ir.program import BinaryOp
    from fuseflow.sim.api import simulate

    programs: list[tuple[str, Any]] = [("spmv", examples.spmv()), ("spmm (Gustavson)", examples.spmm_ikj()),
                ("spmm (inner product)", examples.spmm_ijk()), ("sddmm", examples.sddmm()),
                ("element-wise add", examples.elementwise(BinaryOp.ADD)),
                ("element-wise mul", examples.elementwise(BinaryOp.MUL)), ("softmax", examples.softmax()),
                ("blocked spmm", examples.blocked_spmm(32, 32, 32, 16))]
    try:  # with the compiler installed, the zoo's common kernels too (ff-sim does not need it)
        from fuseflow.fusion.api import compile_model

        for fusion in ("unfused", "partial", "full"):
            programs.append((f"gcn on karate, {fusion}", compile_model("gcn", {}, "karate", fusion).program))
        gpt = {"decoders": "1", "seq": "32", "d_model": "16", "heads": "2", "block": "8"}
        programs.append(("gpt3-bigbird, small", compile_model("gpt3-bigbird", gpt, None, "full").program))
    except ImportError:
        pass
    start = time.perf_counter()
    for k, (name, prog) in enumerate(programs, 1):
        t0 = time.perf_counter()
        for hw in ("default", "no-hbm"):
            # dense enough that no reduction sits under an empty sparse fiber (docs/simulator.md)
            simulate(prog, hw=hw, engine="fast", random_inputs=None if prog.data else 5, density=0.9)
        progress(f"[{k}/{len(programs)}] {name}: {time.perf_counter() - t0:.1f} s")
    return time.perf_counter() - start
