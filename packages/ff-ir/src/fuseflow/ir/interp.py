"""Reference interpreter of tensor programs, with stored-value semantics.

Every tensor is a pair (values, pattern) of dense arrays. A dense-format tensor has a
full pattern; a sparse-format input's pattern is its non-zeros. Unary ops map stored
values; MUL/DIV/MASK intersect patterns; ADD/SUB/MAX union them (absent counts as 0);
reductions run over stored values only (MAX of nothing is absent). Absent entries
read as 0 in the returned arrays. It works on dense arrays: meant for small sizes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fuseflow.ir.errors import DataError, VerificationError
from fuseflow.ir.program import (
    Access,
    Binary,
    BinaryOp,
    Const,
    Expr,
    Reduce,
    ReduceOp,
    TensorProgram,
    TensorRole,
    Unary,
    UnaryOp,
)


@dataclass
class _Val:
    """Values and pattern over named axes (index variables)."""

    axes: tuple[str, ...]
    v: np.ndarray
    m: np.ndarray

    def filled(self) -> np.ndarray:
        return np.where(self.m, self.v, 0.0)


def evaluate(program: TensorProgram, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Values of every tensor of ``program`` (inputs, intermediates, outputs) as float32."""
    state: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name, decl in program.tensors.items():
        if decl.view_of is not None or decl.role not in (TensorRole.INPUT, TensorRole.PARAM):
            continue
        if name not in inputs:
            if any(a.output.tensor == name for a in program.assignments):
                continue
            raise DataError(f"no value given for input tensor {name!r}")
        arr = np.asarray(inputs[name], dtype=np.float64)
        if tuple(arr.shape) != tuple(decl.shape):
            raise DataError(f"input {name!r} has shape {arr.shape}, declared {decl.shape}")
        state[name] = (arr, np.ones(arr.shape, bool) if decl.format.is_dense else arr != 0)

    def lookup(name: str) -> tuple[np.ndarray, np.ndarray]:
        if name not in state:
            decl = program.tensor(name)
            if decl.view_of is None:
                raise VerificationError(f"tensor {name!r} is read before it is written")
            v, m = lookup(decl.view_of)
            m = np.ones(decl.shape, bool) if decl.format.is_dense else m.reshape(decl.shape)
            state[name] = (v.reshape(decl.shape), m)
        return state[name]

    for asg in program.assignments:
        extents = _extents(program, asg.output, asg.value)
        val = _eval(asg.value, lookup, extents)
        out = asg.output
        decl = program.tensor(out.tensor)
        for ax in val.axes:
            if ax not in out.indices:
                raise VerificationError(f"{asg.name}: index {ax!r} is neither reduced nor in the output")
        val = _expand(val, tuple(out.indices), extents)
        m = np.ones(decl.shape, bool) if decl.format.is_dense else val.m
        state[out.tensor] = (np.where(val.m, val.v, 0.0), m)

    result: dict[str, np.ndarray] = {}
    for name in program.tensors:
        try:
            v, m = lookup(name)
        except (VerificationError, KeyError):
            continue
        result[name] = np.where(m, v, 0.0).astype(np.float32)
    return result


def _extents(program: TensorProgram, out: Access, e: Expr) -> dict[str, int]:
    from fuseflow.ir.program import accesses

    ext: dict[str, int] = {}
    for acc in [out, *accesses(e)]:
        shape = program.tensor(acc.tensor).shape
        if len(shape) != len(acc.indices):
            raise VerificationError(f"{acc.tensor} has {len(shape)} modes but is accessed with {acc.indices}")
        for i, n in zip(acc.indices, shape, strict=False):
            if ext.setdefault(i, n) != n:
                raise VerificationError(f"index {i!r} ranges over {ext[i]} and {n}")
    return ext


def _expand(x: _Val, axes: tuple[str, ...], ext: dict[str, int]) -> _Val:
    """Broadcast/transpose ``x`` onto ``axes`` (a superset of its axes)."""
    v, m = x.v, x.m
    cur = list(x.axes)
    for ax in axes:
        if ax not in cur:
            v, m = v[..., None], m[..., None]
            cur.append(ax)
    perm = [cur.index(ax) for ax in axes]
    shape = tuple(ext[a] for a in axes)
    return _Val(axes, np.broadcast_to(v.transpose(perm), shape), np.broadcast_to(m.transpose(perm), shape))


def _union_axes(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[str, ...]:
    return a + tuple(x for x in b if x not in a)


_UNARY: dict[UnaryOp, Callable[[np.ndarray], np.ndarray]] = {
    UnaryOp.NEG: np.negative,
    UnaryOp.EXP: np.exp,
    UnaryOp.SQRT: np.sqrt,
    UnaryOp.RSQRT: lambda x: 1.0 / np.sqrt(x),
    UnaryOp.RELU: lambda x: np.maximum(x, 0.0),
    UnaryOp.SIGMOID: lambda x: 1.0 / (1.0 + np.exp(-x)),
    UnaryOp.TANH: np.tanh,
}


def _erf(x: np.ndarray) -> np.ndarray:
    try:
        from scipy.special import erf

        return erf(x)  # type: ignore[no-any-return]  # scipy's erf is untyped
    except ImportError:  # pragma: no cover - scipy is usually there
        return np.vectorize(math.erf, otypes=[np.float64])(x)


def _unary(op: UnaryOp, x: np.ndarray, s: float | None) -> np.ndarray:
    if op is UnaryOp.GELU:
        return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))
    if op.takes_scalar:
        if s is None:
            raise VerificationError(f"{op.value} needs a scalar")
        return {
            UnaryOp.SCALAR_ADD: lambda: x + s,
            UnaryOp.SCALAR_MUL: lambda: x * s,
            UnaryOp.SCALAR_DIV: lambda: x / s,
            UnaryOp.SCALAR_MAX: lambda: np.maximum(x, s),
        }[op]()
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return _UNARY[op](x)


def _eval(e: Expr, lookup, ext: dict[str, int]) -> _Val:  # type: ignore[no-untyped-def]  # lookup is a closure over the interpreter's state
    if isinstance(e, Access):
        v, m = lookup(e.tensor)
        if len(set(e.indices)) != len(e.indices):
            raise VerificationError(f"repeated index in access {e.tensor}{list(e.indices)}")
        return _Val(tuple(e.indices), v, m)
    if isinstance(e, Const):
        return _Val((), np.array(float(e.value)), np.array(True))
    if isinstance(e, Unary):
        x = _eval(e.operand, lookup, ext)
        with np.errstate(all="ignore"):
            return _Val(x.axes, np.where(x.m, _unary(e.op, x.v, e.scalar), 0.0), x.m)
    if isinstance(e, Binary):
        a, b = _eval(e.lhs, lookup, ext), _eval(e.rhs, lookup, ext)
        axes = _union_axes(a.axes, b.axes)
        a, b = _expand(a, axes, ext), _expand(b, axes, ext)
        if e.op.is_union:
            m = a.m | b.m
            fa, fb = a.filled(), b.filled()
            v = {BinaryOp.ADD: np.add, BinaryOp.SUB: np.subtract, BinaryOp.MAX: np.maximum}[e.op](fa, fb)
        else:
            m = a.m & b.m
            with np.errstate(all="ignore"):
                if e.op is BinaryOp.MUL:
                    v = a.v * b.v
                elif e.op is BinaryOp.DIV:
                    v = a.v / b.v
                else:  # MASK: lhs gives the pattern, rhs the values
                    v = b.v
        return _Val(axes, np.where(m, v, 0.0), m)
    if isinstance(e, Reduce):
        if e.op is ReduceOp.SUM and isinstance(e.body, Binary) and e.body.op is BinaryOp.MUL:
            return _sum_of_product(e, lookup, ext)
        x = _eval(e.body, lookup, ext)
        axes = _union_axes(x.axes, tuple(e.indices))
        x = _expand(x, axes, ext)
        red = tuple(axes.index(i) for i in e.indices)
        keep = tuple(a for a in axes if a not in e.indices)
        m = np.asarray(x.m.any(axis=red))
        if e.op is ReduceOp.SUM:
            v = x.filled().sum(axis=red)
        else:
            v = np.where(x.m, x.v, -np.inf).max(axis=red) if x.v.size else np.zeros(m.shape)
            v = np.where(m, v, 0.0)
        return _Val(keep, v, m)
    raise VerificationError(f"not an expression: {e!r}")


def _sum_of_product(e: Reduce, lookup, ext: dict[str, int]) -> _Val:  # type: ignore[no-untyped-def]  # lookup is a closure over the interpreter's state
    """sum[k](mul(a, b)) by einsum (same result, no big broadcast temporaries)."""
    assert isinstance(e.body, Binary)
    a, b = _eval(e.body.lhs, lookup, ext), _eval(e.body.rhs, lookup, ext)
    axes = _union_axes(_union_axes(a.axes, b.axes), tuple(e.indices))
    letters = {ax: chr(ord("a") + n) for n, ax in enumerate(axes)}
    keep = tuple(ax for ax in axes if ax not in e.indices)
    missing = [ax for ax in e.indices if ax not in a.axes and ax not in b.axes]
    spec = "".join(letters[x] for x in a.axes) + "," + "".join(letters[x] for x in b.axes)
    spec += "->" + "".join(letters[x] for x in keep)
    v = np.einsum(spec, a.filled(), b.filled())
    m = np.einsum(spec, a.m.astype(np.float64), b.m.astype(np.float64)) > 0
    for ax in missing:  # a reduced index used by neither side: the sum repeats
        v = v * ext[ax]
    return _Val(keep, v, m)
