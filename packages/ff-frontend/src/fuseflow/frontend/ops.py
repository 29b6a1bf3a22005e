"""Translation of aten ops (before decomposition) into tensor-program assignments.

Each handler gets the :class:`Translator` and the node's arguments (FX nodes replaced
by their :class:`Sym` / :class:`MaskVal` / Python values) and returns the node's value.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from fuseflow.frontend.builder import LETTERS, MaskVal, Sym, access, broadcast_access
from fuseflow.ir.errors import FrontendError
from fuseflow.ir.formats import LevelFormat, TensorFormat, dense
from fuseflow.ir.program import (
    Binary,
    BinaryOp,
    Expr,
    Reduce,
    ReduceOp,
    Unary,
    UnaryOp,
)

HANDLERS: dict[str, Callable[..., Any]] = {}


def handles(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        for n in names:
            HANDLERS[n] = fn
        return fn

    return deco


def supported_ops() -> list[str]:
    return sorted(HANDLERS)


def _sym(t: Any, x: Any, what: str = "operand") -> Sym:
    if not isinstance(x, Sym):
        raise t.error(f"{what} must be a tensor, got {type(x).__name__}")
    return x


def _dim(d: int, n: int) -> int:
    return d + n if d < 0 else d


def _is_sparse(t: Any, sym: Sym) -> bool:
    return not t.b.decls[sym.tensor].format.is_dense


def _plain_format(t: Any, sym: Sym) -> TensorFormat | None:
    """The format of ``sym``'s tensor if ``sym`` is a plain (unpermuted) view of it."""
    if sym.dims == tuple(range(len(t.b.decls[sym.tensor].shape))):
        return t.b.decls[sym.tensor].format
    return None


# ---------------------------------------------------------------- identities


@handles("aten.clone", "aten.contiguous", "aten.alias", "aten.detach", "aten.lift_fresh_copy",
         "aten.to_dense", "aten._to_dense", "aten.type_as", "aten.to", "aten._to_copy")
def _identity(t: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
    dtypes = [a for a in (*args, kwargs.get("dtype")) if "dtype" in type(a).__name__]
    dtype = dtypes[0] if dtypes else None
    if dtype is not None and "float32" not in str(dtype):
        raise t.error(f"conversion to {dtype} is not supported (FuseFlow computes in float32)")
    return x


@handles("aten.dropout", "aten.feature_dropout")
def _dropout(t: Any, x: Any, p: float = 0.5, train: bool = False) -> Any:
    if train and p:
        raise t.error("dropout in training mode is not supported (call model.eval())")
    return x


@handles("fuseflow.annotate")
def _annotate(t: Any, x: Any, fmt: str) -> Any:
    sym = _sym(t, x)
    t.apply_format(sym, fmt)
    t.b.zero_filled.add(sym.tensor)  # eager PyTorch still holds it dense: unstored entries are zeros
    return x


@handles("aten._to_sparse_csr", "aten.to_sparse_csr")
def _to_csr(t: Any, x: Any, *args: Any, **kwargs: Any) -> Any:
    t.apply_format(_sym(t, x), "CSR")
    return x


@handles("aten._to_sparse", "aten.to_sparse")
def _to_sparse(t: Any, x: Any, *args: Any, layout: Any = None, blocksize: Any = None, **kwargs: Any) -> Any:
    sym = _sym(t, x)
    name = {"torch.sparse_csr": "CSR", "torch.sparse_csc": "CSC"}.get(str(layout), "COO" if sym.ndim == 2 else "")
    if str(layout) == "torch.sparse_bsr" and blocksize:
        t.apply_format(sym, "dc#" + "x".join(map(str, blocksize)))
    elif name:
        t.apply_format(sym, name)
    return x


@handles("aten._to_sparse_bsr", "aten.to_sparse_bsr")
def _to_bsr(t: Any, x: Any, blocksize: Any, *args: Any, **kwargs: Any) -> Any:
    t.apply_format(_sym(t, x), "dc#" + "x".join(map(str, blocksize)))
    return x


# ---------------------------------------------------------------- relabeling


def _relabel(x: Sym, order: list[int]) -> Sym:
    return Sym(x.tensor, tuple(x.dims[o] for o in order), tuple(x.shape[o] for o in order))


@handles("aten.transpose")
def _transpose(t: Any, x: Any, d0: int, d1: int) -> Sym:
    x = _sym(t, x)
    order = list(range(x.ndim))
    a, b = _dim(d0, x.ndim), _dim(d1, x.ndim)
    order[a], order[b] = order[b], order[a]
    return _relabel(x, order)


@handles("aten.t", "aten.numpy_T")
def _t(t: Any, x: Any) -> Sym:
    x = _sym(t, x)
    return _relabel(x, list(reversed(range(x.ndim))))


@handles("aten.mT")
def _mt(t: Any, x: Any) -> Sym:
    return _transpose(t, x, -2, -1)


@handles("aten.permute")
def _permute(t: Any, x: Any, dims: list[int]) -> Sym:
    x = _sym(t, x)
    return _relabel(x, [_dim(d, x.ndim) for d in dims])


@handles("aten.unsqueeze")
def _unsqueeze(t: Any, x: Any, d: int) -> Sym:
    x = _sym(t, x)
    d = _dim(d, x.ndim + 1)
    return Sym(x.tensor, x.dims[:d] + (None,) + x.dims[d:], x.shape[:d] + (1,) + x.shape[d:])


@handles("aten.slice")
def _slice(t: Any, x: Any, dim: int = 0, start: Any = None, end: Any = None, step: int = 1) -> Sym:
    x = _sym(t, x)
    n = x.shape[_dim(dim, x.ndim)]
    if (start in (None, 0)) and (end is None or end >= n) and step == 1:
        return x
    raise t.error("slicing a part of a tensor is not supported (only full slices)")


@handles("aten.expand")
def _expand(t: Any, x: Any, sizes: list[int], implicit: bool = False) -> Sym:
    x = _sym(t, x)
    sizes = list(sizes)
    lead = len(sizes) - x.ndim
    dims: list[int | None] = [None] * lead
    shape = [int(s) for s in sizes[:lead]]
    for ax in range(x.ndim):
        s = sizes[lead + ax]
        if s == -1 or s == x.shape[ax]:
            dims.append(x.dims[ax])
            shape.append(x.shape[ax])
        elif x.dims[ax] is None or x.shape[ax] == 1 and x.dims[ax] is None:
            dims.append(None)
            shape.append(int(s))
        else:
            raise t.error(f"cannot expand a stored mode of size {x.shape[ax]} to {s}")
    return Sym(x.tensor, tuple(dims), tuple(shape))


def _resolve_shape(t: Any, x: Sym, shape: list[int]) -> tuple[int, ...]:
    total = math.prod(x.shape)
    shape = [int(s) for s in shape]
    if -1 in shape:
        known = math.prod(s for s in shape if s != -1)
        shape[shape.index(-1)] = total // known if known else 0
    if math.prod(shape) != total:
        raise t.error(f"cannot reshape {x.shape} to {tuple(shape)}")
    return tuple(shape)


@handles("aten.view", "aten.reshape", "aten._unsafe_view")
def _reshape(t: Any, x: Any, shape: list[int]) -> Sym:
    x = _sym(t, x)
    new = _resolve_shape(t, x, shape)
    relabeled = _try_relabel(x, new)
    if relabeled is not None:
        return relabeled
    return t.view(x, new)


def _try_relabel(x: Sym, new: tuple[int, ...]) -> Sym | None:
    """A reshape that only adds/removes size-1 dims is a relabeling."""
    old_big = [ax for ax in range(x.ndim) if x.shape[ax] != 1]
    if [x.shape[ax] for ax in old_big] != [s for s in new if s != 1]:
        return None
    ones = [x.dims[ax] for ax in range(x.ndim) if x.shape[ax] == 1 and x.dims[ax] is not None]
    dims: list[int | None] = []
    big = iter(old_big)
    for s in new:
        if s != 1:
            dims.append(x.dims[next(big)])
        else:
            dims.append(ones.pop(0) if ones else None)
    if ones:
        return None
    return Sym(x.tensor, tuple(dims), new)


@handles("aten.squeeze")
def _squeeze(t: Any, x: Any, dim: Any = None) -> Sym:
    x = _sym(t, x)
    if dim is None:
        drop = {ax for ax in range(x.ndim) if x.shape[ax] == 1}
    else:
        ds = dim if isinstance(dim, (list, tuple)) else [dim]
        drop = {_dim(d, x.ndim) for d in ds if x.shape[_dim(d, x.ndim)] == 1}
    return _reshape(t, x, [s for ax, s in enumerate(x.shape) if ax not in drop])


@handles("aten.flatten")
def _flatten(t: Any, x: Any, start: int = 0, end: int = -1) -> Sym:
    x = _sym(t, x)
    if x.ndim == 0:
        return _reshape(t, x, [1])
    s, e = _dim(start, x.ndim), _dim(end, x.ndim)
    shape = list(x.shape[:s]) + [math.prod(x.shape[s:e + 1])] + list(x.shape[e + 1:])
    return _reshape(t, x, shape)


@handles("aten.unflatten")
def _unflatten(t: Any, x: Any, dim: int, sizes: list[int]) -> Sym:
    x = _sym(t, x)
    d = _dim(dim, x.ndim)
    sizes = list(sizes)
    if -1 in sizes:
        known = math.prod(s for s in sizes if s != -1)
        sizes[sizes.index(-1)] = x.shape[d] // known
    return _reshape(t, x, list(x.shape[:d]) + sizes + list(x.shape[d + 1:]))


# ---------------------------------------------------------------- elementwise

_SCALAR_FIRST_OK = {BinaryOp.ADD, BinaryOp.MUL, BinaryOp.MAX}


def _broadcast_shape(t: Any, a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    n = max(len(a), len(b))
    a2, b2 = (1,) * (n - len(a)) + a, (1,) * (n - len(b)) + b
    out = []
    for x, y in zip(a2, b2, strict=False):
        if x != y and 1 not in (x, y):
            raise t.error(f"shapes {a} and {b} do not broadcast")
        out.append(max(x, y))
    return tuple(out)


def _scalar_unary(op: BinaryOp, s: float, reverse: bool) -> tuple[UnaryOp, float, bool]:
    """(unary op, scalar, negate operand first) computing ``x op s`` (or ``s op x``)."""
    if op is BinaryOp.ADD:
        return UnaryOp.SCALAR_ADD, s, False
    if op is BinaryOp.SUB:
        return (UnaryOp.SCALAR_ADD, s, True) if reverse else (UnaryOp.SCALAR_ADD, -s, False)
    if op is BinaryOp.MUL:
        return UnaryOp.SCALAR_MUL, s, False
    if op is BinaryOp.DIV and not reverse:
        return UnaryOp.SCALAR_DIV, s, False
    if op is BinaryOp.MAX:
        return UnaryOp.SCALAR_MAX, s, False
    raise FrontendError(f"scalar {op.value} with the scalar first is not supported")


def binary(t: Any, kind: str, op: BinaryOp, a: Any, b: Any, alpha: float = 1.0) -> Any:
    if isinstance(b, (int, float)) and alpha != 1:
        b = b * alpha
        alpha = 1.0
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return {BinaryOp.ADD: a + b, BinaryOp.SUB: a - b, BinaryOp.MUL: a * b,
                BinaryOp.DIV: a / b if b else math.inf, BinaryOp.MAX: max(a, b), BinaryOp.MASK: b}[op]
    if isinstance(a, (int, float)) or isinstance(b, (int, float)):
        reverse = isinstance(a, (int, float))
        x, s = (b, a) if reverse else (a, b)
        try:
            uop, sv, neg = _scalar_unary(op, float(s), reverse)
        except FrontendError as err:
            raise t.error(str(err)) from None
        x = _sym(t, x)
        e = t.op(kind)

        def build(idx: list[str], fresh: Callable[[], str]) -> Expr:
            inner: Expr = access(x, list(idx))
            if neg:
                inner = Unary(UnaryOp.NEG, inner)
            return Unary(uop, inner, sv)

        return _same_fill(t, x, e.emit(x.shape, build, fmt=_unary_format(t, x, uop, sv)))
    a, b = _sym(t, a), _sym(t, b)
    shape = _broadcast_shape(t, a.shape, b.shape)
    e = t.op(kind)

    def build2(idx: list[str], fresh: Callable[[], str]) -> Expr:
        rhs: Expr = broadcast_access(b, idx, shape)
        if alpha != 1:
            rhs = Unary(UnaryOp.SCALAR_MUL, rhs, float(alpha))
        return Binary(op, broadcast_access(a, idx, shape), rhs)

    if op is BinaryOp.MUL:  # a product is zero wherever a sparse operand is: it keeps that pattern
        for x in (a, b):
            fmt = _plain_format(t, x)
            if fmt is not None and not fmt.is_dense and x.shape == shape:
                return _same_fill(t, x, e.emit(shape, build2, fmt=fmt))
    return e.emit(shape, build2)


def _unary_format(t: Any, x: Sym, op: UnaryOp | None = None, scalar: float | None = None) -> TensorFormat | None:
    """Unary ops keep the stored pattern: a sparse operand keeps its format. An op with
    f(0) != 0 would have to fill every unstored entry (PyTorch computes it on zeros): refused
    with a clear error instead of a silently wrong sparse result."""
    fmt = _plain_format(t, x)
    if op is not None and _is_sparse(t, x) and not _keeps_zero(op, scalar):
        raise t.error(f"{op.value}{'(' + format(scalar, 'g') + ')' if scalar is not None else ''} of the "
                      f"sparse tensor {x.tensor} maps its unstored zeros to nonzeros, which a sparse result "
                      "cannot hold; store the operand dense (drop its format annotation) or apply the op "
                      "only to stored entries (masked_fill / torch.sparse ops)")
    return fmt if fmt is not None and not fmt.is_dense else None


def _keeps_zero(op: UnaryOp, scalar: float | None) -> bool:
    """Whether f(0) == 0 for unary ``op`` (with its scalar)."""
    if op is UnaryOp.SCALAR_ADD:
        return not scalar
    if op is UnaryOp.SCALAR_MAX:
        return scalar is not None and scalar <= 0
    if op is UnaryOp.SCALAR_DIV:
        return bool(scalar)
    return op not in (UnaryOp.EXP, UnaryOp.SIGMOID, UnaryOp.RSQRT)


@handles("aten.add")
def _add(t: Any, a: Any, b: Any, alpha: float = 1) -> Any:
    kind = "bias" if t.is_bias(a, b) else "add"
    return binary(t, kind, BinaryOp.ADD, a, b, alpha)


@handles("aten.sub")
def _sub(t: Any, a: Any, b: Any, alpha: float = 1) -> Any:
    return binary(t, "sub", BinaryOp.SUB, a, b, alpha)


@handles("aten.rsub")
def _rsub(t: Any, a: Any, b: Any, alpha: float = 1) -> Any:
    if isinstance(a, Sym) and isinstance(b, (int, float)):
        return binary(t, "sub", BinaryOp.SUB, b, a if alpha == 1 else binary(t, "mul", BinaryOp.MUL, a, alpha))
    return binary(t, "sub", BinaryOp.SUB, b, a, alpha)


@handles("aten.mul")
def _mul(t: Any, a: Any, b: Any) -> Any:
    return binary(t, "mul", BinaryOp.MUL, a, b)


@handles("aten.div")
def _div(t: Any, a: Any, b: Any, rounding_mode: Any = None) -> Any:
    if rounding_mode is not None:
        raise t.error(f"division with rounding_mode={rounding_mode!r} is not supported")
    return binary(t, "div", BinaryOp.DIV, a, b)


@handles("aten.maximum")
def _maximum(t: Any, a: Any, b: Any) -> Any:
    return binary(t, "max", BinaryOp.MAX, a, b)


def unary(t: Any, kind: str, op: UnaryOp, x: Any, scalar: float | None = None) -> Sym:
    x = _sym(t, x)
    e = t.op(kind)
    return _same_fill(t, x, e.emit(x.shape, lambda idx, fresh: Unary(op, access(x, list(idx)), scalar),
                                   fmt=_unary_format(t, x, op, scalar)))


def _same_fill(t: Any, x: Sym, y: Sym) -> Sym:
    """A zero-preserving op of a zero-filled (annotated) tensor is zero-filled too."""
    if x.tensor in t.b.zero_filled:
        t.b.zero_filled.add(y.tensor)
    return y


def _simple(kind: str, op: UnaryOp) -> Callable[..., Sym]:
    def h(t: Any, x: Any) -> Sym:
        return unary(t, kind, op, x)

    return h


for _k, _op in (("relu", UnaryOp.RELU), ("sigmoid", UnaryOp.SIGMOID), ("tanh", UnaryOp.TANH),
                ("exp", UnaryOp.EXP), ("rsqrt", UnaryOp.RSQRT), ("sqrt", UnaryOp.SQRT), ("neg", UnaryOp.NEG)):
    HANDLERS[f"aten.{_k}"] = _simple(_k, _op)


@handles("aten.gelu")
def _gelu(t: Any, x: Any, approximate: str = "none") -> Sym:
    if approximate != "none":
        raise t.error(f"gelu(approximate={approximate!r}) is not supported (only the exact erf form)")
    return unary(t, "gelu", UnaryOp.GELU, x)


@handles("aten.clamp_min")
def _clamp_min(t: Any, x: Any, s: float) -> Sym:
    return unary(t, "relu" if s == 0 else "clamp", UnaryOp.RELU if s == 0 else UnaryOp.SCALAR_MAX, x,
                 None if s == 0 else float(s))


# ---------------------------------------------------------------- masks


@handles("aten.eq")
def _eq(t: Any, x: Any, v: Any) -> MaskVal:
    if isinstance(x, Sym) and v == 0:
        return MaskVal(x, keep=False)
    raise t.error("only `mask == 0` comparisons are supported (to build masks)")


@handles("aten.ne", "aten.gt")
def _ne(t: Any, x: Any, v: Any) -> MaskVal:
    if isinstance(x, Sym) and v == 0:
        return MaskVal(x, keep=True)
    raise t.error("only `mask != 0` / `mask > 0` comparisons are supported (to build masks)")


@handles("aten.logical_not", "aten.bitwise_not")
def _not(t: Any, m: Any) -> MaskVal:
    if isinstance(m, MaskVal):
        return MaskVal(m.sym, not m.keep)
    if isinstance(m, Sym):
        return MaskVal(m, keep=False)
    raise t.error("logical not of a non-mask")


@handles("aten.masked_fill")
def _masked_fill(t: Any, x: Any, cond: Any, value: Any) -> Sym:
    x = _sym(t, x)
    if isinstance(cond, Sym):
        cond = MaskVal(cond, keep=True)
    if not isinstance(cond, MaskVal) or cond.keep:
        raise t.error("masked_fill needs a condition `mask == 0` (or ~mask): entries are kept where mask is"
                      " non-zero")
    if isinstance(value, Sym):
        raise t.error("masked_fill with a tensor value is not supported")
    value = float(value)
    if value not in (-math.inf, 0.0):
        raise t.error(f"masked_fill value {value} is not supported (use -inf or 0)")
    mask = cond.sym
    mfmt = t.mask_format(mask)
    fmt = _mask_out_format(mfmt, x.ndim) if value == -math.inf else None
    prev = t.fusable_matmul(x)
    if prev is not None:  # SDDMM: the matmul sampled at the mask, one op
        old = prev
        e = t.op("sddmm", replace=old)
        return e.emit(x.shape, lambda idx, fresh: Binary(BinaryOp.MASK, broadcast_access(mask, idx, x.shape),
                                                          old.value), fmt=fmt)
    e = t.op("mask")
    return e.emit(x.shape, lambda idx, fresh: Binary(BinaryOp.MASK, broadcast_access(mask, idx, x.shape),
                                                      access(x, list(idx))), fmt=fmt)


def _mask_out_format(mfmt: TensorFormat, ndim: int) -> TensorFormat:
    """A masked result of order ``ndim`` takes the mask's format (leading dense batch levels)."""
    extra = ndim - mfmt.order
    if extra <= 0:
        return mfmt
    levels = (LevelFormat.DENSE,) * extra + mfmt.levels
    order = tuple(range(extra)) + tuple(m + extra for m in mfmt.mode_order)
    block = None if mfmt.block is None else (1,) * extra + mfmt.block
    return TensorFormat(levels, order, block)


# ---------------------------------------------------------------- contractions


def matmul(t: Any, kind: str, a: Sym, b: Sym, scale: float = 1.0) -> Sym:
    a_vec, b_vec = a.ndim == 1, b.ndim == 1
    a2 = Sym(a.tensor, (None,) + a.dims, (1,) + a.shape) if a_vec else a
    b2 = Sym(b.tensor, b.dims + (None,), b.shape + (1,)) if b_vec else b
    if a2.shape[-1] != b2.shape[-2]:
        raise t.error(f"matmul of {a.shape} and {b.shape}: inner sizes differ")
    batch = _broadcast_shape(t, a2.shape[:-2], b2.shape[:-2])
    nb = len(batch)
    shape = batch + (() if a_vec else (a2.shape[-2],)) + (() if b_vec else (b2.shape[-1],))
    e = t.op(kind)

    def build(idx: list[str], fresh: Callable[[], str]) -> Expr:
        bi = idx[:nb]
        rest = idx[nb:]
        m = None if a_vec else rest[0]
        n = None if b_vec else rest[-1]
        k = fresh()
        ia = _batch_idx(a2, bi, batch) + [m, k]
        ib = _batch_idx(b2, bi, batch) + [k, n]
        body: Expr = Reduce(ReduceOp.SUM, (k,), Binary(BinaryOp.MUL, access(a2, ia), access(b2, ib)))
        return Unary(UnaryOp.SCALAR_MUL, body, scale) if scale != 1 else body

    return e.emit(shape, build)


def _batch_idx(x: Sym, bi: list[str], batch: tuple[int, ...]) -> list[str | None]:
    nb = x.ndim - 2
    off = len(batch) - nb
    return [bi[off + ax] if x.dims[ax] is not None and x.shape[ax] == batch[off + ax] else None
            for ax in range(nb)]


@handles("aten.mm", "aten.bmm", "aten.matmul", "aten._sparse_mm", "aten.sparse_mm")
def _mm(t: Any, a: Any, b: Any, *rest: Any) -> Sym:
    return matmul(t, "mm", _sym(t, a), _sym(t, b))


@handles("aten.addmm")
def _addmm(t: Any, bias: Any, a: Any, b: Any, beta: float = 1, alpha: float = 1) -> Sym:
    y = matmul(t, "mm", _sym(t, a), _sym(t, b), float(alpha))
    if isinstance(bias, (int, float)) and bias * beta == 0:
        return y
    if beta != 1:
        bias = binary(t, "mul", BinaryOp.MUL, bias, beta)
    return binary(t, "bias", BinaryOp.ADD, y, bias)


@handles("aten.linear")
def _linear(t: Any, x: Any, w: Any, bias: Any = None) -> Sym:
    w = _sym(t, w, "weight")
    y = matmul(t, "mm", _sym(t, x), _t(t, w))
    if bias is None:
        return y
    return binary(t, "bias", BinaryOp.ADD, y, bias)


@handles("aten.einsum")
def _einsum(t: Any, eq: str, operands: list[Any]) -> Sym:
    ops = [_sym(t, o) for o in operands]
    eq = eq.replace(" ", "")
    if "." in eq:
        raise t.error("einsum with '...' is not supported")
    lhs, _, out = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ops):
        raise t.error(f"einsum {eq!r} names {len(terms)} operands, got {len(ops)}")
    if "->" not in eq:
        counts = {c: lhs.count(c) for c in lhs if c.isalpha()}
        out = "".join(sorted(c for c, n in counts.items() if n == 1))
    size: dict[str, int] = {}
    for term, o in zip(terms, ops, strict=False):
        if len(term) != o.ndim or len(set(term)) != len(term):
            raise t.error(f"einsum term {term!r} does not fit an operand of shape {o.shape}")
        for c, s in zip(term, o.shape, strict=False):
            size[c] = max(size.get(c, 1), s)
    shape = tuple(size[c] for c in out)
    e = t.op("einsum")

    def build(idx: list[str], fresh: Callable[[], str]) -> Expr:
        name = dict(zip(out, idx, strict=False))
        red = [c for c in size if c not in name]
        for c in red:
            name[c] = fresh()
        body: Expr | None = None
        for term, o in zip(terms, ops, strict=False):
            acc = access(o, [name[c] if o.dims[ax] is not None else None for ax, c in enumerate(term)])
            body = acc if body is None else Binary(BinaryOp.MUL, body, acc)
        assert body is not None
        return Reduce(ReduceOp.SUM, tuple(name[c] for c in red), body) if red else body

    return e.emit(shape, build)


@handles("aten.sparse_sampled_addmm", "aten.sampled_addmm")
def _sampled_addmm(t: Any, m: Any, a: Any, b: Any, beta: float = 1, alpha: float = 1) -> Sym:
    m, a, b = _sym(t, m, "mask"), _sym(t, a), _sym(t, b)
    fmt = t.mask_format(m)
    e = t.op("sddmm")

    def build(idx: list[str], fresh: Callable[[], str]) -> Expr:
        k = fresh()
        prod: Expr = Reduce(ReduceOp.SUM, (k,), Binary(BinaryOp.MUL, access(a, [idx[0], k]), access(b, [k, idx[1]])))
        if alpha != 1:
            prod = Unary(UnaryOp.SCALAR_MUL, prod, float(alpha))
        val: Expr = Binary(BinaryOp.MASK, access(m, list(idx)), prod)
        if beta != 0:
            val = Binary(BinaryOp.ADD, Unary(UnaryOp.SCALAR_MUL, access(m, list(idx)), float(beta)), val)
        return val

    return e.emit(m.shape, build, fmt=_mask_out_format(fmt, 2))


# ---------------------------------------------------------------- reductions


def _reduce(t: Any, kind: str, rop: ReduceOp, x: Any, dims: Any, keepdim: bool, mean: bool = False) -> Sym:
    x = _sym(t, x)
    if dims is None or dims == []:
        red = list(range(x.ndim))
    else:
        red = sorted({_dim(d, x.ndim) for d in (dims if isinstance(dims, (list, tuple)) else [dims])})
    keep = [ax for ax in range(x.ndim) if ax not in red]
    shape = tuple(x.shape[ax] for ax in keep)
    count = math.prod(x.shape[ax] for ax in red)
    factor = math.prod(x.shape[ax] for ax in red if x.dims[ax] is None)
    e = t.op(kind)

    def build(idx: list[str], fresh: Callable[[], str]) -> Expr:
        names: list[str | None] = [None] * x.ndim
        for ax, i in zip(keep, idx, strict=False):
            names[ax] = i
        rix: list[str] = []
        for ax in red:
            if x.dims[ax] is not None:
                r = fresh()
                names[ax] = r
                rix.append(r)
        body: Expr = access(x, names)
        if rix:
            body = Reduce(rop, tuple(rix), body)
        if rop is ReduceOp.SUM and factor != 1:
            body = Unary(UnaryOp.SCALAR_MUL, body, float(factor))
        if mean:
            body = Unary(UnaryOp.SCALAR_DIV, body, float(count))
        return body

    y = e.emit(shape, build)
    if keepdim:
        dims_out: list[int | None] = []
        it = iter(range(len(shape)))
        for ax in range(x.ndim):
            dims_out.append(None if ax in red else next(it))
        return Sym(y.tensor, tuple(dims_out), tuple(1 if ax in red else x.shape[ax] for ax in range(x.ndim)))
    return y


@handles("aten.sum")
def _sum(t: Any, x: Any, dims: Any = None, keepdim: bool = False, dtype: Any = None) -> Sym:
    return _reduce(t, "sum", ReduceOp.SUM, x, dims, keepdim)


@handles("aten.mean")
def _mean(t: Any, x: Any, dims: Any = None, keepdim: bool = False, dtype: Any = None) -> Sym:
    return _reduce(t, "mean", ReduceOp.SUM, x, dims, keepdim, mean=True)


@handles("aten.amax")
def _amax(t: Any, x: Any, dims: Any = (), keepdim: bool = False) -> Sym:
    sym = _sym(t, x)
    if _is_sparse(t, sym):
        raise t.error(f"amax over the sparse tensor {sym.tensor}: PyTorch counts its unstored zeros, the "
                      "sparse reduction sees stored entries only; store it dense or reduce a masked tensor")
    return _reduce(t, "amax", ReduceOp.MAX, x, list(dims) or None, keepdim)


# ---------------------------------------------------------------- composite ops


@handles("aten.softmax", "aten._softmax", "aten._sparse_softmax")
def _softmax(t: Any, x: Any, dim: int, *rest: Any, **kwargs: Any) -> Sym:
    x = _sym(t, x)
    d = _dim(dim, x.ndim)
    pfmt = _plain_format(t, x)
    sparse = _is_sparse(t, x)
    if sparse and x.tensor in t.b.zero_filled and "_sparse_softmax" not in str(getattr(t.node, "target", "")):
        raise t.error(f"softmax over the annotated sparse tensor {x.tensor}: PyTorch includes its unstored "
                      "zeros, the sparse softmax skips them; use torch.sparse.softmax, mask it "
                      "(masked_fill with -inf) or store it dense")
    fmt = pfmt if sparse and pfmt is not None else None
    rshape = tuple(s for ax, s in enumerate(x.shape) if ax != d)
    e = t.op("softmax")

    def drop(idx: list[str]) -> list[str]:
        return [i for ax, i in enumerate(idx) if ax != d]

    def with_red(idx: list[str], c: str) -> list[str]:
        return list(idx[:d]) + [c] + list(idx[d:])

    def m_build(idx: list[str], fresh: Callable[[], str]) -> Expr:
        c = fresh()
        return Reduce(ReduceOp.MAX, (c,), access(x, with_red(idx, c)))

    mx = e.emit(rshape, m_build, part="max")

    def e_build(idx: list[str], fresh: Callable[[], str]) -> Expr:
        xv = access(x, list(idx))
        v: Expr = Unary(UnaryOp.EXP, Binary(BinaryOp.SUB, xv, access(mx, drop(idx))))
        return Binary(BinaryOp.MASK, xv, v) if sparse else v

    ex = e.emit(x.shape, e_build, part="exp", fmt=fmt)

    def z_build(idx: list[str], fresh: Callable[[], str]) -> Expr:
        c = fresh()
        return Reduce(ReduceOp.SUM, (c,), access(ex, with_red(idx, c)))

    z = e.emit(rshape, z_build, part="sum")
    return e.emit(x.shape, lambda idx, fresh: Binary(BinaryOp.DIV, access(ex, list(idx)), access(z, drop(idx))),
                  part="div", fmt=fmt, final=True)


@handles("aten.layer_norm")
def _layer_norm(t: Any, x: Any, normalized_shape: list[int], weight: Any = None, bias: Any = None,
                eps: float = 1e-5, *rest: Any) -> Sym:
    x = _sym(t, x)
    if len(normalized_shape) != 1:
        raise t.error("layer_norm over more than the last dimension is not supported")
    n = x.shape[-1]
    rshape = x.shape[:-1]
    e = t.op("layernorm")

    def with_c(idx: list[str], c: str) -> list[str]:
        return list(idx) + [c]

    def mean_b(idx: list[str], fresh: Callable[[], str]) -> Expr:
        c = fresh()
        return Unary(UnaryOp.SCALAR_DIV, Reduce(ReduceOp.SUM, (c,), access(x, with_c(idx, c))), float(n))

    mu = e.emit(rshape, mean_b, part="mean")
    cen = e.emit(x.shape, lambda idx, fresh: Binary(BinaryOp.SUB, access(x, list(idx)), access(mu, idx[:-1])),
                 part="center")

    def var_b(idx: list[str], fresh: Callable[[], str]) -> Expr:
        c = fresh()
        a = access(cen, with_c(idx, c))
        return Unary(UnaryOp.SCALAR_DIV, Reduce(ReduceOp.SUM, (c,), Binary(BinaryOp.MUL, a, a)), float(n))

    var = e.emit(rshape, var_b, part="var")
    rstd = e.emit(rshape, lambda idx, fresh: Unary(UnaryOp.RSQRT, Unary(UnaryOp.SCALAR_ADD, access(var, list(idx)),
                                                                         float(eps))), part="rstd")

    def out_b(idx: list[str], fresh: Callable[[], str]) -> Expr:
        v: Expr = Binary(BinaryOp.MUL, access(cen, list(idx)), access(rstd, idx[:-1]))
        if weight is not None:
            v = Binary(BinaryOp.MUL, v, broadcast_access(_sym(t, weight), list(idx), x.shape))
        if bias is not None:
            v = Binary(BinaryOp.ADD, v, broadcast_access(_sym(t, bias), list(idx), x.shape))
        return v

    return e.emit(x.shape, out_b, part="out", final=True)


def copy(t: Any, x: Sym) -> Sym:
    """Materialize a relabeled value in its logical order (an op of its own)."""
    e = t.op("copy")
    return e.emit(x.shape, lambda idx, fresh: access(x, list(idx)))


__all__ = ["HANDLERS", "supported_ops", "matmul", "binary", "unary", "copy", "dense", "LETTERS"]
