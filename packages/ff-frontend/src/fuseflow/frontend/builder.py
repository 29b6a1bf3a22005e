"""Building a tensor program: symbolic values, ops and their assignments.

A captured value is a :class:`Sym`: a view of a program tensor whose logical dims map
to the tensor's modes (transposes and unsqueezes only relabel). Each translated op
becomes one :class:`OpInfo` with one or more assignments.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from fuseflow.ir.errors import FrontendError
from fuseflow.ir.formats import LevelFormat, TensorFormat, dense
from fuseflow.ir.program import Access, Assignment, Expr, TensorDecl, TensorProgram, TensorRole, index_vars

LETTERS = "ijklmnopqrstuvwxyzabcdefgh"


@dataclass(frozen=True)
class Sym:
    """A logical tensor value: ``dims[ax]`` is the tensor mode of logical dim ``ax``, or
    None for a broadcast dim (the value does not vary along it)."""

    tensor: str
    dims: tuple[int | None, ...]
    shape: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def is_row_major(self) -> bool:
        """True when the real dims appear in mode order (a reshape needs no copy)."""
        real = [d for d in self.dims if d is not None]
        return real == sorted(real)


@dataclass(frozen=True)
class MaskVal:
    """A boolean tensor: true where ``sym`` is non-zero (``keep``) or zero (not keep)."""

    sym: Sym
    keep: bool


@dataclass
class OpInfo:
    name: str
    kind: str
    source: str
    scope: str  # module path ("" for the root module)
    layer: str  # layer module path for the ``partial`` preset
    assignments: list[str] = field(default_factory=list)


@dataclass
class CapturedProgram(TensorProgram):
    """A tensor program that also remembers its ops (op name -> assignments, layer)."""

    ops: list[OpInfo] = field(default_factory=list)


def clean(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_") or "t"


class Builder:
    def __init__(self, name: str) -> None:
        self.name = clean(name)
        self.decls: dict[str, TensorDecl] = {}
        self.assignments: list[Assignment] = []
        self.ops: list[OpInfo] = []
        self.annotated: set[str] = set()
        self.zero_filled: set[str] = set()  # annotated in eager-dense PyTorch: unstored entries are zeros
        self._op_names: set[str] = set()

    # tensors
    def declare(self, base: str, shape: tuple[int, ...], fmt: TensorFormat | None = None,
                role: TensorRole = TensorRole.INTERMEDIATE, view_of: str | None = None,
                index_names: tuple[str, ...] = (), clash: str = "_out") -> str:
        name = clean(base)
        if name in self.decls and clash:
            name += clash
        n = 1
        while name in self.decls:
            name = f"{clean(base)}_{n}"
            n += 1
        self.decls[name] = TensorDecl(name, tuple(int(s) for s in shape), fmt or dense(len(shape)), role,
                                      index_names=index_names, view_of=view_of)
        return name

    def set_format(self, tensor: str, fmt: TensorFormat) -> None:
        self.decls[tensor] = dataclasses.replace(self.decls[tensor], format=fmt)

    def set_role(self, tensor: str, role: TensorRole) -> None:
        self.decls[tensor] = dataclasses.replace(self.decls[tensor], role=role)

    # ops
    def begin_op(self, kind: str, scope: str, layer: str, source: str) -> OpEmitter:
        base = ".".join(p for p in (self.name, scope, kind) if p)
        name, n = base, 1
        while name in self._op_names:
            name = f"{base}_{n}"
            n += 1
        self._op_names.add(name)
        op = OpInfo(name, kind, source, scope, layer)
        self.ops.append(op)
        return OpEmitter(self, op)

    def program(self, outputs: tuple[str, ...]) -> CapturedProgram:
        return CapturedProgram(tensors=dict(self.decls), assignments=list(self.assignments),
                               outputs=outputs, name=self.name, ops=list(self.ops))


class OpEmitter:
    """Emits the assignments of one op."""

    def __init__(self, builder: Builder, op: OpInfo) -> None:
        self.b = builder
        self.op = op
        local = op.name[len(builder.name) + 1:] if op.name != builder.name else op.name
        self.tensor_base = clean(local)

    def emit(self, shape: tuple[int, ...], build: Callable[[list[str], Callable[[], str]], Expr],
             part: str = "", fmt: TensorFormat | None = None, final: bool = False) -> Sym:
        """Add ``T[i,j,..] = build(out_indices, fresh)`` and return T as a plain Sym.
        ``part`` names the assignment inside a multi-assignment op; the ``final`` part's
        tensor is named after the op."""
        letters = iter(LETTERS)
        out_idx = [next(letters) for _ in shape]

        def fresh() -> str:
            return next(letters)

        value = build(out_idx, fresh)
        # a size-1 mode the value does not depend on (a head axis when heads=1) is not
        # stored: the result is a broadcast along it, as an unsqueezed tensor would be
        used = set(index_vars(value))
        keep = [m for m, n in enumerate(shape) if not (n == 1 and out_idx[m] not in used)]
        if not keep:
            keep = list(range(len(shape)))
        if fmt is not None:
            for m in sorted(set(range(len(shape))) - set(keep), reverse=True):
                smaller = _without_mode(fmt, m)
                if smaller is None:
                    keep = list(range(len(shape)))
                    break
                fmt = smaller
        stored = tuple(shape[m] for m in keep)
        tname = self.b.declare(self.tensor_base + (f"_{part}" if part and not final else ""), stored, fmt)
        aname = self.op.name + (f".{part}" if part else "")
        out = Access(tname, tuple(out_idx[m] for m in keep))
        self.b.assignments.append(Assignment(aname, out, value, self.op.source))
        self.op.assignments.append(aname)
        dims = tuple(keep.index(m) if m in keep else None for m in range(len(shape)))
        return Sym(tname, dims, tuple(shape))


def _without_mode(fmt: TensorFormat, m: int) -> TensorFormat | None:
    """``fmt`` without mode ``m`` when that mode is a dense level (else None)."""
    p = fmt.mode_order.index(m)
    if fmt.levels[p] is not LevelFormat.DENSE:
        return None
    order = tuple(o - (o > m) for o in fmt.mode_order if o != m)
    block = None if fmt.block is None else tuple(b for i, b in enumerate(fmt.block) if i != m)
    return TensorFormat(fmt.levels[:p] + fmt.levels[p + 1:], order, block)


def access(sym: Sym, idx: Sequence[str | None]) -> Access:
    """Access of ``sym``'s tensor where logical dim ``ax`` uses index ``idx[ax]``."""
    by_mode: dict[int, str] = {}
    for d, i in zip(sym.dims, idx, strict=False):
        if d is not None:
            if i is None:
                raise FrontendError(f"internal: mode {d} of {sym.tensor} has no index")
            by_mode[d] = i
    return Access(sym.tensor, tuple(by_mode[m] for m in range(len(by_mode))))


def broadcast_access(sym: Sym, out_idx: list[str], out_shape: tuple[int, ...]) -> Access:
    """Access of ``sym`` broadcast (numpy rules, right-aligned) onto the output dims."""
    off = len(out_shape) - sym.ndim
    if off < 0:
        raise FrontendError(f"cannot broadcast {sym.shape} to {out_shape}")
    idx: list[str | None] = []
    for ax, d in enumerate(sym.dims):
        if d is not None and sym.shape[ax] == 1 and out_shape[off + ax] != 1:
            raise FrontendError(f"broadcast of a stored size-1 mode of {sym.tensor} is not supported"
                                " (use unsqueeze or [:, None] instead)")
        idx.append(out_idx[off + ax] if d is not None else None)
    return access(sym, idx)
