"""Columnar streams: a stream's tokens as int64 codes (plus float32 values), stamps as int64.

A list stream holds one Python object per token (an int, an ``np.float32``, a ``Stop``, N,
D or a repeat signal). The hot primitives take and give :class:`Col` streams instead, so
numpy does the work; the engine turns a ``Col`` back into a list (the very same objects:
Python ints, ``np.float32`` values, the shared ``stop(k)``, N and D) for the other primitives.

Codes: a payload coordinate or ref ``c >= 0`` is itself; a float32 payload is ``VAL`` with
its value in ``vals``; ``Sk`` is ``STOP0 - k``; N, D and the signals R, S, N have their own
negative codes. A stream holding anything else (tiles, other number types) stays a list.
"""

from __future__ import annotations

import ctypes
import sys
from array import array
from contextlib import contextmanager
from typing import Any

import numpy as np
from fuseflow.sim.fast.codes import C_DONE, C_EMPTY, C_N, C_R, C_S, C_VAL, STOP0
from fuseflow.sim.fast.jit import maxplus_const, maxplus_var
from fuseflow.sim.prims.common import DONE, EMPTY, Sig, Stop, stop

F32 = np.float32
I64 = np.int64
__all__ = ["C_DONE", "C_EMPTY", "C_N", "C_R", "C_S", "C_VAL", "F32", "I64", "STOP0", "Col", "col_in", "decode",
           "done_end", "encode", "keep_heap", "list_in", "maxplus", "ramp", "stamps_i64", "token"]

_SIGS = {Sig.R: C_R, Sig.S: C_S, Sig.N: C_N}
_OBJ = {C_DONE: DONE, C_EMPTY: EMPTY, C_R: Sig.R, C_S: Sig.S, C_N: Sig.N}


class Col:
    """The tokens of a columnar stream (its stamps travel beside it as an int64 array)."""

    __slots__ = ("codes", "vals", "_list")

    def __init__(self, codes: np.ndarray, vals: np.ndarray | None = None) -> None:
        self.codes = codes
        self.vals = vals  # float32, meaningful where codes == C_VAL
        self._list: list | None = None

    def __len__(self) -> int:
        return len(self.codes)

    def tolist(self) -> list:
        if self._list is None:
            self._list = decode(self)
        return self._list


def token(code: int) -> Any:
    if code >= 0:
        return code
    if code <= STOP0:
        return stop(STOP0 - code)
    return _OBJ[code]


def decode(col: Col) -> list:
    codes = col.codes
    if col.vals is not None:
        out = list(col.vals)  # np.float32 objects, as the list primitives make them
        other = np.flatnonzero(codes != C_VAL)
    else:
        out = codes.tolist()
        other = np.flatnonzero(codes < 0)
    cache: dict[int, Any] = {}
    for i, c in zip(other.tolist(), codes[other].tolist(), strict=True):
        tok = cache.get(c)
        if tok is None:
            tok = cache[c] = token(c)
        out[i] = tok
    return out


class _NotCol(Exception):
    pass


def _code(x: Any) -> int:
    tx = type(x)
    if tx is F32:
        return C_VAL
    if tx is Stop:
        return STOP0 - x.level
    if x is EMPTY:
        return C_EMPTY
    if x is DONE:
        return C_DONE
    if tx is Sig:
        return _SIGS[x]
    raise _NotCol


def encode(toks: list) -> Col | None:
    """A list stream as codes, or None when it holds a token codes cannot carry."""
    n = len(toks)
    try:
        codes = np.fromiter((x if type(x) is int and x >= 0 else _code(x) for x in toks), I64, n)
    except _NotCol:
        return None
    vals = None
    isval = codes == C_VAL
    nv = int(np.count_nonzero(isval))
    if nv:
        vals = np.zeros(n, F32)
        vals[isval] = np.fromiter((x for x in toks if type(x) is F32), F32, nv)
    return Col(codes, vals)


def col_in(stream: Any) -> tuple[Col, np.ndarray] | None:
    """A stream as (Col, int64 stamps), or None when it cannot be columnar."""
    toks, stamps = stream
    if not isinstance(toks, Col):
        toks = encode(toks)
        if toks is None:
            return None
    return toks, stamps_i64(stamps)


def to_done(stream: Any) -> tuple[Col, np.ndarray, int] | None:
    """A stream as (Col, stamps, end) with its D at end-1; None if not columnar or no D."""
    ci = col_in(stream)
    if ci is None:
        return None
    col, st = ci
    end = done_end(col.codes)
    return (col, st, end) if end else None


def list_in(stream: Any) -> tuple[list, array]:
    """A stream as (list of tokens, array('q') of stamps), for the loop primitives."""
    toks, stamps = stream
    if isinstance(toks, Col):
        toks = toks.tolist()
    if not isinstance(stamps, array):
        a = array("q")
        a.frombytes(np.ascontiguousarray(stamps, dtype=I64).tobytes())
        stamps = a
    return toks, stamps


def stamps_i64(stamps: Any) -> np.ndarray:
    if isinstance(stamps, np.ndarray):
        return stamps
    if isinstance(stamps, array):
        return np.frombuffer(stamps, dtype=I64) if len(stamps) else np.zeros(0, I64)
    return np.asarray(stamps, dtype=I64)


def done_end(codes: np.ndarray) -> int:
    """1 + the index of the first D, or 0 when there is none."""
    if len(codes) and codes[-1] == C_DONE:
        n = len(codes)
        first = np.flatnonzero(codes[: n - 1] == C_DONE)
        return int(first[0]) + 1 if len(first) else n
    first = np.flatnonzero(codes == C_DONE)
    return int(first[0]) + 1 if len(first) else 0


_RAMP = np.arange(0, dtype=I64)


def ramp(n: int) -> np.ndarray:
    """0, 1, ..., n-1 (a read-only view of a cached array)."""
    global _RAMP
    if len(_RAMP) < n:
        _RAMP = np.arange(max(n, 2 * len(_RAMP)), dtype=I64)
        _RAMP.flags.writeable = False
    return _RAMP[:n]


def maxplus(a: np.ndarray, c: np.ndarray | int, t0: int = 0, inplace: bool = False) -> np.ndarray:
    """Clocks U_m of ``t = max(t, a_m)`` (this is U_m) then ``t += c_m``, from ``t = t0``.

    ``inplace``: ``a`` may be overwritten with the result.
    """
    out = a if inplace and a.dtype == I64 and a.flags.writeable else np.empty(len(a), I64)
    if isinstance(c, (int, np.integer)):
        return maxplus_const(a, int(c), int(t0), out)
    return maxplus_var(a, np.asarray(c, I64), int(t0), out)


_INT_MAX = 2**31 - 1


@contextmanager
def keep_heap():
    """Keep freed big buffers in the process heap while the engine runs (glibc): streams
    are hundreds of MB and come and go; reusing their pages avoids faulting in fresh
    ones each time, which dominates on some machines. Restored (and trimmed) after."""
    libc = None
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL("libc.so.6")
            # mallopt takes a C int: 1 << 40 used to wrap to 0 (trim at every free)
            libc.mallopt(-4, 0)  # M_MMAP_MAX: big blocks from the heap, not fresh mappings
            libc.mallopt(-1, _INT_MAX)  # M_TRIM_THRESHOLD: keep freed memory at the heap's top
            libc.mallopt(-2, _INT_MAX)  # M_TOP_PAD: and 2 GiB of it even after a bigger free
        except (OSError, AttributeError):
            libc = None
    try:
        yield
    finally:
        if libc is not None:
            libc.mallopt(-4, 65536)
            libc.mallopt(-1, 128 * 1024)
            libc.mallopt(-2, 128 * 1024)  # glibc's defaults
            libc.malloc_trim(0)
