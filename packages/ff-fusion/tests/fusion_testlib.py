"""Helpers for ff-fusion tests: a tiny builder for hand-written tensor programs,
compile + simulate wrappers, and graph queries."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Program
from fuseflow.ir.formats import dense, named_format
from fuseflow.ir.program import (
    Access,
    Assignment,
    Binary,
    BinaryOp,
    FusionGroup,
    Reduce,
    ReduceOp,
    TensorDecl,
    TensorProgram,
    TensorRole,
    Unary,
    UnaryOp,
)

__all__ = ["A", "mul", "add", "sub", "div", "mask", "ssum", "smax", "un", "ProgramBuilder",
           "compile_prog", "run", "UnaryOp", "BinaryOp", "TensorRole", "counts_of"]


# -- expression DSL -----------------------------------------------------------------
def A(tensor: str, idx: str | Sequence[str]) -> Access:
    """``A("X", "ik")`` is X[i,k] (one letter per index) or pass a tuple of names."""
    return Access(tensor, tuple(idx))


def mul(a, b):  # noqa: ANN001, ANN201
    return Binary(BinaryOp.MUL, a, b)


def add(a, b):  # noqa: ANN001, ANN201
    return Binary(BinaryOp.ADD, a, b)


def sub(a, b):  # noqa: ANN001, ANN201
    return Binary(BinaryOp.SUB, a, b)


def div(a, b):  # noqa: ANN001, ANN201
    return Binary(BinaryOp.DIV, a, b)


def mask(a, b):  # noqa: ANN001, ANN201
    return Binary(BinaryOp.MASK, a, b)


def ssum(idx, e):  # noqa: ANN001, ANN201
    return Reduce(ReduceOp.SUM, tuple(idx), e)


def smax(idx, e):  # noqa: ANN001, ANN201
    return Reduce(ReduceOp.MAX, tuple(idx), e)


def un(op: UnaryOp, e, scalar: float | None = None):  # noqa: ANN001, ANN201
    return Unary(op, e, scalar)


# -- program builder ----------------------------------------------------------------
class ProgramBuilder:
    """Declare inputs with data, then assignments tagged with a partial-fusion group name.

    ``build(outputs, fusion, expected)`` makes a :class:`Program` with one group per
    assignment (``unfused``), one group for everything (``full``) or the tagged groups
    (``partial``).
    """

    def __init__(self, name: str) -> None:
        self.tp = TensorProgram(name=name)
        self.data: dict[str, TensorData] = {}
        self.tags: list[tuple[str, str]] = []

    def inp(self, name: str, arr, fmt: str = "dense", role: TensorRole = TensorRole.INPUT) -> None:  # noqa: ANN001
        arr = np.asarray(arr, dtype=np.float32)
        f = dense(arr.ndim) if fmt == "dense" else named_format(fmt)
        self.tp.tensors[name] = TensorDecl(name, arr.shape, f, role)
        self.data[name] = TensorData.from_dense(arr)

    def let(self, name: str, out: str, shape: Sequence[int], expr, fmt: str | None = None,  # noqa: ANN001
            group: str | None = None) -> None:
        f = named_format(fmt) if fmt else dense(len(shape))
        self.tp.tensors[name] = TensorDecl(name, tuple(shape), f, TensorRole.INTERMEDIATE)
        self.tp.assignments.append(Assignment(name, A(name, out), expr))
        self.tags.append((group or name, name))

    def build(self, outputs: Sequence[str], fusion: str, expected: dict[str, np.ndarray]) -> Program:
        for o in outputs:
            d = self.tp.tensors[o]
            self.tp.tensors[o] = TensorDecl(o, d.shape, d.format, TensorRole.OUTPUT)
        self.tp.outputs = tuple(outputs)
        if fusion == "unfused":
            self.tp.groups = [FusionGroup(n, (n,)) for _, n in self.tags]
        elif fusion == "full":
            self.tp.groups = [FusionGroup("all", tuple(n for _, n in self.tags))]
        elif fusion == "partial":
            gs: dict[str, list[str]] = {}
            for g, n in self.tags:
                gs.setdefault(g, []).append(n)
            self.tp.groups = [FusionGroup(g, tuple(ns)) for g, ns in gs.items()]
        else:
            raise ValueError(fusion)
        exp = {k: TensorData.from_dense(np.asarray(v, dtype=np.float32)) for k, v in expected.items()}
        return Program(self.tp, data=self.data, expected=exp)


# -- compile / simulate ---------------------------------------------------------------
def compile_prog(prog: Program, order=None, par=None, passes=None):  # noqa: ANN001, ANN201
    from fuseflow.fusion.compile import compile_program, default_passes
    from fuseflow.fusion.optimize import optimization_passes

    if passes is None:
        passes = default_passes() + optimization_passes(par or [], None)
    return compile_program(prog, order, passes=passes)


def run(prog: Program, order=None, hw: str = "no-hbm", par=None):  # noqa: ANN001, ANN201
    """Compile and simulate with the output check: (CompileResult, SimResult)."""
    from fuseflow.sim import simulate

    res = compile_prog(prog, order, par)
    return res, simulate(res.program, hw=hw, check=True)


def counts_of(graph) -> dict[str, int]:  # noqa: ANN001
    return dict(sorted(graph.kind_counts().items()))
