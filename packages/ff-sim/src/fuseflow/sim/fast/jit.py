"""How the fast engine's loops are compiled (numba). Without numba (or with ``--no-jit``)
the same functions run as Python, correct but slow."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from fuseflow.sim.options import COMPILE


def cache_dir(here: Path = Path(__file__).parent) -> str:
    """Where numba caches the loops (under ``NUMBA_CACHE_DIR`` or ``~/.cache/fuseflow/numba``): a
    folder per version of the fast engine's sources, as numba checks a function's own file only."""
    digest = hashlib.sha256()
    for src in sorted(here.rglob("*.py")):
        digest.update(src.relative_to(here).as_posix().encode() + src.read_bytes())
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(os.path.expanduser("~"), ".cache", "fuseflow", "numba")
    return os.path.join(base, digest.hexdigest()[:16])


CACHE_DIR = cache_dir()

JIT_REQUESTED = COMPILE["jit"]  # EngineOptions.jit of the first simulation (ff sim --no-jit)
CHECKED = COMPILE["boundscheck"]  # ff sim --boundscheck: step functions checked too (2x slower, uncached)

try:  # pragma: no branch - numba is a declared dependency of ff-sim
    if not JIT_REQUESTED:
        raise ImportError
    from numba import njit as _njit
    from numba import types
    from numba.core import config as _numba_config

    _numba_config.CACHE_DIR = CACHE_DIR  # type: ignore[attr-defined]  # read when a cached function is decorated

    def jit(fn):
        # bounds checked: an indexing bug raises instead of corrupting memory (cost not measurable)
        return _njit(cache=True, nogil=True, boundscheck=True)(fn)

    def jit_inline(fn):
        """``jit`` for a helper called per token from other compiled loops: inlined into them."""
        return _njit(cache=True, nogil=True, boundscheck=True, inline="always")(fn)

    def jit_hot(fn):
        """``jit`` for a per-token step function: bounds checked only when asked; x / 0 is numpy's inf or nan."""
        return _njit(cache=not CHECKED, nogil=True, boundscheck=CHECKED, error_model="numpy")(fn)

    # trailing-zero count of an int64 (LLVM's cttz); numba has no public name for it
    from llvmlite import ir
    from numba.core import cgutils
    from numba.cpython.unsafe.numbers import trailing_zeros as ctz
    from numba.extending import intrinsic

    @intrinsic
    def prefetch(typingctx, arr, i):  # brings arr[i] into cache while the loop goes on (LLVM's hint)
        def codegen(context, builder, sig, args):
            ary = context.make_array(sig.args[0])(context, builder, args[0])
            ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])
            i8p, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
            fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32]),
                                                "llvm.prefetch.p0i8")
            builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])  # a read, kept in every level
            return context.get_dummy_value()
        return types.void(arr, i), codegen

    HAVE_JIT = True
except ImportError:  # pragma: no cover
    def jit(fn):
        return fn

    jit_inline = jit_hot = jit

    def ctz(x):  # type: ignore[misc]  # the pure-Python stand-ins of the numba intrinsics above
        x = int(x)
        return (x & -x).bit_length() - 1

    def prefetch(arr, i):  # type: ignore[misc]
        pass

    HAVE_JIT = False
