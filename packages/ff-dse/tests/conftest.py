"""Shared helpers: a tiny GCN-like tensor program with data, and synthetic configs."""

from __future__ import annotations

from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import pytest
from fuseflow.ir.cli import build_app
from fuseflow.ir.data import TensorData
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
from typer.testing import CliRunner

N, F, H = 120, 48, 8


def _matmul(name: str, out: str, a: str, b: str) -> Assignment:
    return Assignment(name, Access(out, ("i", "j")), Reduce(ReduceOp.SUM, ("k",), Binary(
        BinaryOp.MUL, Access(a, ("i", "k")), Access(b, ("k", "j")))))


def gcn_layer_program() -> SimpleNamespace:
    """relu(A (X W)): ops xw, ax, relu; a dataflow-Program-like namespace (program, data, kernels)."""
    csr = named_format("CSR")
    t = {
        "A": TensorDecl("A", (N, N), csr),
        "X": TensorDecl("X", (N, F), csr),
        "W": TensorDecl("W", (F, H), dense(2), TensorRole.PARAM),
        "XW": TensorDecl("XW", (N, H), dense(2), TensorRole.INTERMEDIATE),
        "AXW": TensorDecl("AXW", (N, H), dense(2), TensorRole.INTERMEDIATE),
        "Y": TensorDecl("Y", (N, H), dense(2), TensorRole.OUTPUT),
    }
    ops = [
        _matmul("xw", "XW", "X", "W"),
        _matmul("ax", "AXW", "A", "XW"),
        Assignment("relu", Access("Y", ("i", "j")), Unary(UnaryOp.RELU, Access("AXW", ("i", "j")))),
    ]
    tp = TensorProgram(t, ops, [FusionGroup(a.name, (a.name,)) for a in ops], ("Y",), "gcn-layer")
    rng = np.random.default_rng(0)
    A = (rng.random((N, N)) < 0.05).astype(np.float32)
    X = (rng.random((N, F)) < 0.1).astype(np.float32)
    data = {"A": TensorData.from_dense(A), "X": TensorData.from_dense(X),
            "W": TensorData.from_dense(rng.random((F, H)))}
    return SimpleNamespace(program=tp, data=data, kernels=[], dense={"A": A, "X": X}, N=N, F=F, H=H)


@pytest.fixture
def gcn_layer() -> SimpleNamespace:
    return gcn_layer_program()




@pytest.fixture
def ff_cli() -> Callable[..., tuple[int, str]]:
    """Run the `ff` CLI in-process: (exit code, output), with SystemExit codes unwrapped."""
    def run(*args: str) -> tuple[int, str]:
        res = CliRunner().invoke(build_app(), list(args))
        code = res.exit_code
        if isinstance(res.exception, SystemExit):
            code = int(res.exception.code or 0)
        return code, res.output
    return run
