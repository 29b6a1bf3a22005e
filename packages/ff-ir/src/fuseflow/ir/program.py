"""The tensor-program level of the IR: tensors and expressions in index notation.

An expression assigns ``out[i, j] = <expr>`` where ``<expr>`` is built from tensor
accesses, constants, unary/binary ops and reductions over index variables
(einsum-like). Semantics are those of stored values: unary ops map stored values,
MUL/DIV/MASK intersect operand patterns, ADD/SUB/MAX union them, reductions run over
stored values only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from fuseflow.ir.formats import DType, TensorFormat


class TensorRole(enum.Enum):
    INPUT = "input"
    PARAM = "param"
    INTERMEDIATE = "intermediate"
    OUTPUT = "output"


@dataclass(frozen=True)
class TensorDecl:
    name: str
    shape: tuple[int, ...]
    format: TensorFormat
    role: TensorRole = TensorRole.INPUT
    dtype: DType = DType.FLOAT32
    index_names: tuple[str, ...] = ()  # readable names of the modes (e.g. ("node", "feature"))
    # a reshape of another tensor's row-major data (a fusion barrier): same values, this shape
    view_of: str | None = None

    @property
    def order(self) -> int:
        return len(self.shape)


class UnaryOp(enum.Enum):
    NEG = "neg"
    EXP = "exp"
    RSQRT = "rsqrt"
    SQRT = "sqrt"
    RELU = "relu"
    SIGMOID = "sigmoid"
    GELU = "gelu"
    TANH = "tanh"
    SCALAR_ADD = "scalar_add"
    SCALAR_MUL = "scalar_mul"
    SCALAR_DIV = "scalar_div"
    SCALAR_MAX = "scalar_max"

    @property
    def takes_scalar(self) -> bool:
        return self.value.startswith("scalar_")


class BinaryOp(enum.Enum):
    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    MAX = "max"
    MASK = "mask"  # lhs = pattern, rhs = values: rhs restricted to lhs's stored coordinates

    @property
    def is_union(self) -> bool:
        return self in (BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MAX)


class ReduceOp(enum.Enum):
    SUM = "sum"
    MAX = "max"


@dataclass(frozen=True)
class Access:
    tensor: str
    indices: tuple[str, ...]


@dataclass(frozen=True)
class Const:
    value: float


@dataclass(frozen=True)
class Unary:
    op: UnaryOp
    operand: Expr
    scalar: float | None = None


@dataclass(frozen=True)
class Binary:
    op: BinaryOp
    lhs: Expr
    rhs: Expr


@dataclass(frozen=True)
class Reduce:
    op: ReduceOp
    indices: tuple[str, ...]
    body: Expr


Expr = Access | Const | Unary | Binary | Reduce


@dataclass(frozen=True)
class Assignment:
    """One expression (kernel-to-be): ``output = value``; ``name`` identifies the op."""

    name: str
    output: Access
    value: Expr
    source: str = ""  # where it came from in the user's model (file:line), for messages


@dataclass(frozen=True)
class FusionGroup:
    name: str
    assignments: tuple[str, ...]  # assignment names, in program order


@dataclass
class TensorProgram:
    tensors: dict[str, TensorDecl] = field(default_factory=dict)
    assignments: list[Assignment] = field(default_factory=list)
    groups: list[FusionGroup] = field(default_factory=list)
    outputs: tuple[str, ...] = ()
    name: str = "program"

    def tensor(self, name: str) -> TensorDecl:
        from fuseflow.ir.errors import VerificationError

        try:
            return self.tensors[name]
        except KeyError:
            raise VerificationError(f"unknown tensor {name!r}") from None

    def assignment(self, name: str) -> Assignment:
        from fuseflow.ir.errors import VerificationError

        for a in self.assignments:
            if a.name == name:
                return a
        raise VerificationError(f"unknown expression {name!r}")


def accesses(expr: Expr) -> list[Access]:
    """All tensor accesses of an expression, left to right."""
    out: list[Access] = []

    def walk(e: Expr) -> None:
        if isinstance(e, Access):
            out.append(e)
        elif isinstance(e, Unary):
            walk(e.operand)
        elif isinstance(e, Binary):
            walk(e.lhs)
            walk(e.rhs)
        elif isinstance(e, Reduce):
            walk(e.body)

    walk(expr)
    return out


def index_vars(expr: Expr) -> list[str]:
    """Index variables used in an expression, in first-use order."""
    seen: dict[str, None] = {}

    def walk(e: Expr) -> None:
        if isinstance(e, Access):
            for i in e.indices:
                seen.setdefault(i)
        elif isinstance(e, Unary):
            walk(e.operand)
        elif isinstance(e, Binary):
            walk(e.lhs)
            walk(e.rhs)
        elif isinstance(e, Reduce):
            for i in e.indices:
                seen.setdefault(i)
            walk(e.body)

    walk(expr)
    return list(seen)


def format_expr(e: Expr) -> str:
    """Deterministic text of an expression, e.g. ``sum[k](mul(A[i,k], B[k,j]))``."""
    if isinstance(e, Access):
        return f"{e.tensor}[{','.join(e.indices)}]"
    if isinstance(e, Const):
        return repr(float(e.value))
    if isinstance(e, Unary):
        if e.scalar is not None:
            return f"{e.op.value}({format_expr(e.operand)}, {float(e.scalar)!r})"
        return f"{e.op.value}({format_expr(e.operand)})"
    if isinstance(e, Binary):
        return f"{e.op.value}({format_expr(e.lhs)}, {format_expr(e.rhs)})"
    if isinstance(e, Reduce):
        return f"{e.op.value}[{','.join(e.indices)}]({format_expr(e.body)})"
    raise TypeError(f"not an expression: {e!r}")
