"""Blocked lowering (--block B): tiles through every primitive, checked against numpy."""

from __future__ import annotations

import numpy as np
import pytest
from fuseflow.fusion.compile import compile_program
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Program
from fuseflow.ir.formats import dense, named_format
from fuseflow.ir.graph import NodeKind
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
from fuseflow.sim import simulate


def _attention(n: int, d: int, blk: int, seed: int, fused: bool) -> Program:
    """S = mask(M, Q K^T) * 0.5; P = softmax over stored entries; O = P V."""
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(3))
    mask = np.kron(rng.random((n // blk, n // blk)) < 0.4, np.ones((blk, blk))).astype(np.float32)
    mask[np.arange(n), np.arange(n)] = 1.0
    mask = np.maximum(mask, np.kron(np.eye(n // blk), np.ones((blk, blk))))
    s = np.where(mask > 0, (q @ k.T) * 0.5, -np.inf)
    p = np.exp(s - s.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    tp = TensorProgram(name="attention")
    decl = lambda name, shape, fmt, role=TensorRole.INTERMEDIATE: TensorDecl(name, shape, fmt, role)  # noqa: E731
    tp.tensors = {
        "Q": decl("Q", (n, d), dense(2), TensorRole.INPUT), "K": decl("K", (n, d), dense(2), TensorRole.INPUT),
        "V": decl("V", (n, d), dense(2), TensorRole.INPUT), "M": decl("M", (n, n), named_format("CSR"), TensorRole.PARAM),
        "S": decl("S", (n, n), named_format("CSR")), "Mx": decl("Mx", (n,), dense(1)),
        "E": decl("E", (n, n), named_format("CSR")), "Z": decl("Z", (n,), dense(1)),
        "P": decl("P", (n, n), named_format("CSR")), "O": decl("O", (n, d), dense(2), TensorRole.OUTPUT),
    }
    acc = lambda t, *i: Access(t, tuple(i))  # noqa: E731
    tp.assignments = [
        Assignment("S", acc("S", "i", "j"), Unary(UnaryOp.SCALAR_MUL, Binary(BinaryOp.MASK, acc("M", "i", "j"), Reduce(
            ReduceOp.SUM, ("d",), Binary(BinaryOp.MUL, acc("Q", "i", "d"), acc("K", "j", "d")))), 0.5)),
        Assignment("Mx", acc("Mx", "i"), Reduce(ReduceOp.MAX, ("j",), acc("S", "i", "j"))),
        Assignment("E", acc("E", "i", "j"), Unary(UnaryOp.EXP, Binary(BinaryOp.MASK, acc("S", "i", "j"), Binary(
            BinaryOp.SUB, acc("S", "i", "j"), acc("Mx", "i"))))),
        Assignment("Z", acc("Z", "i"), Reduce(ReduceOp.SUM, ("j",), acc("E", "i", "j"))),
        Assignment("P", acc("P", "i", "j"), Binary(BinaryOp.DIV, acc("E", "i", "j"), acc("Z", "i"))),
        Assignment("O", acc("O", "i", "d"), Reduce(ReduceOp.SUM, ("j",), Binary(
            BinaryOp.MUL, acc("P", "i", "j"), acc("V", "j", "d")))),
    ]
    names = [a.name for a in tp.assignments]
    tp.groups = [FusionGroup("all", tuple(names))] if fused else [FusionGroup(n_, (n_,)) for n_ in names]
    tp.outputs = ("O",)
    data = {"Q": q, "K": k, "V": v, "M": mask}
    return Program(tp, data={k_: TensorData.from_dense(a) for k_, a in data.items()},
                   expected={"O": TensorData.from_dense(p @ v)})


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("blk", [4, 8])
def test_blocked_attention_matches_numpy(fused: bool, blk: int) -> None:
    prog = _attention(16, 8, blk, seed=blk, fused=fused)
    res = compile_program(prog, block=blk)
    r = simulate(res.program, hw="no-hbm", check=True)
    assert r.check == "pass", r.max_rel_error
    # values are tiles: every ALU and value array of the kernels is blocked
    alus = [n for k in res.program.kernels for n in k.graph.nodes.values() if n.kind is NodeKind.VAL_ARRAY]
    assert alus and all(n.attrs.block for n in alus)


def test_blocked_is_faster_than_scalar_on_block_sparsity() -> None:
    prog = _attention(32, 8, 8, seed=1, fused=True)
    scalar = simulate(compile_program(prog).program, hw="no-hbm", check=True)
    blocked = simulate(compile_program(_attention(32, 8, 8, seed=1, fused=True), block=8).program,
                       hw="no-hbm", check=True)
    assert scalar.check == blocked.check == "pass"
    assert blocked.cycles * 2 < scalar.cycles


def test_union_with_a_broadcast_operand_covers_every_coordinate() -> None:
    rng = np.random.default_rng(5)
    a = ((rng.random((7, 6)) < 0.3) * rng.standard_normal((7, 6))).astype(np.float32)
    c = rng.standard_normal(7).astype(np.float32)
    tp = TensorProgram(name="union_u")
    tp.tensors = {"A": TensorDecl("A", (7, 6), named_format("CSR")), "c": TensorDecl("c", (7,), dense(1)),
                  "Y": TensorDecl("Y", (7, 6), dense(2), TensorRole.OUTPUT)}
    tp.assignments = [Assignment("Y", Access("Y", ("i", "j")), Binary(BinaryOp.ADD, Access("A", ("i", "j")),
                                                                      Access("c", ("i",))))]
    tp.groups = [FusionGroup("g", ("Y",))]
    tp.outputs = ("Y",)
    prog = Program(tp, data={"A": TensorData.from_dense(a), "c": TensorData.from_dense(c)},
                   expected={"Y": TensorData.from_dense(a + c[:, None])})
    r = simulate(compile_program(prog).program, hw="no-hbm", check=True)
    assert r.check == "pass"
