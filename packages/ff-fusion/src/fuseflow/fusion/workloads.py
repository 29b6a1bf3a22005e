"""Tensor programs the paper's studies use that no model zoo entry gives: shared by the
benchmarks and the tests that pin them."""

from __future__ import annotations

import numpy as np
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Program
from fuseflow.ir.formats import NAMED_FORMATS, TensorFormat, dense
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
)


def nested_matmul(a: np.ndarray, b: np.ndarray, c: np.ndarray, bc_format: TensorFormat | None = None) -> Program:
    """Y = (A B) C fused in one group, T = A B an intermediate; A is stored CSR, B and C
    ``bc_format`` (dense by default); the expected Y from numpy."""
    n, inner, out = a.shape[0], b.shape[1], c.shape[1]
    fmt = dense(2) if bc_format is None else bc_format
    tp = TensorProgram(name="abc")
    tp.tensors["A"] = TensorDecl("A", (n, a.shape[1]), NAMED_FORMATS["CSR"], TensorRole.INPUT)
    tp.tensors["B"] = TensorDecl("B", (b.shape[0], inner), fmt, TensorRole.INPUT)
    tp.tensors["C"] = TensorDecl("C", (inner, out), fmt, TensorRole.INPUT)
    tp.tensors["T"] = TensorDecl("T", (n, inner), dense(2), TensorRole.INTERMEDIATE)
    tp.tensors["Y"] = TensorDecl("Y", (n, out), dense(2), TensorRole.OUTPUT)
    mul = BinaryOp.MUL
    tp.assignments += [
        Assignment("T", Access("T", ("i", "j")),
                   Reduce(ReduceOp.SUM, ("k",), Binary(mul, Access("A", ("i", "k")), Access("B", ("k", "j"))))),
        Assignment("Y", Access("Y", ("i", "l")),
                   Reduce(ReduceOp.SUM, ("j",), Binary(mul, Access("T", ("i", "j")), Access("C", ("j", "l"))))),
    ]
    tp.outputs = ("Y",)
    tp.groups = [FusionGroup("all", ("T", "Y"))]
    data = {k: TensorData.from_dense(v) for k, v in (("A", a), ("B", b), ("C", c))}
    return Program(tp, data=data, expected={"Y": TensorData.from_dense(a @ b @ c)})
