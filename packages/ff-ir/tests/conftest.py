"""Shared builders for the ff-ir tests: a hand-built SpMV program and a graph holding every kind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.formats import LevelFormat, TensorFormat
from fuseflow.ir.graph import Graph, Node, NodeKind
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

GOLDEN = Path(__file__).parent / "golden"
K = NodeKind
DENSE, COMPRESSED = LevelFormat.DENSE, LevelFormat.COMPRESSED


def spmv_program() -> Program:
    """y[i] = sum_j A[i,j] * x[j] with A in CSR: the program of golden/spmv_csr.fftxt."""
    tp = TensorProgram(name="spmv")
    tp.tensors["A"] = TensorDecl("A", (4, 6), TensorFormat.parse("CSR"), TensorRole.INPUT)
    tp.tensors["x"] = TensorDecl("x", (6,), TensorFormat.parse("d"), TensorRole.INPUT)
    tp.tensors["y"] = TensorDecl("y", (4,), TensorFormat.parse("d"), TensorRole.OUTPUT)
    body = Reduce(ReduceOp.SUM, ("j",), Binary(BinaryOp.MUL, Access("A", ("i", "j")), Access("x", ("j",))))
    tp.assignments.append(Assignment("y0", Access("y", ("i",)), body, source="examples/spmv.py:12"))
    tp.groups.append(FusionGroup("g0", ("y0",)))
    tp.outputs = ("y",)
    g = Graph("k0")
    root_a = g.add(K.ROOT, tensor="A")
    a_i = g.add(K.LEVEL_SCAN, tensor="A", level=0, format=DENSE, index="i", dim=4)
    a_j = g.add(K.LEVEL_SCAN, tensor="A", level=1, format=COMPRESSED, index="j")
    bc = g.add(K.BROADCAST, arity=2)
    y_i = g.add(K.LEVEL_WRITE, tensor="y", level=0, format=DENSE, dim=4)
    sig = g.add(K.REPEAT_SIG, index="i")
    root_x = g.add(K.ROOT, tensor="x")
    rep = g.add(K.REPEAT, index="i", tensor="x")
    x_j = g.add(K.LEVEL_SCAN, tensor="x", level=0, format=DENSE, index="j", dim=6)
    inter = g.add(K.INTERSECT, index="j", arity=2)
    a_v = g.add(K.VAL_ARRAY, tensor="A")
    x_v = g.add(K.VAL_ARRAY, tensor="x")
    mul = g.add(K.ALU, op=BinaryOp.MUL, arity=2)
    red = g.add(K.REDUCE, op=ReduceOp.SUM, index="j")
    y_v = g.add(K.VAL_WRITE, tensor="y")
    g.connect(root_a, "ref", a_i, "ref")
    g.connect(a_i, "crd", bc, "in", name="i")
    g.connect(bc, "out0", y_i, "crd")
    g.connect(bc, "out1", sig, "crd")
    g.connect(a_i, "ref", a_j, "ref")
    g.connect(root_x, "ref", rep, "in")
    g.connect(sig, "repsig", rep, "repsig")
    g.connect(rep, "out", x_j, "ref")
    g.connect(a_j, "crd", inter, "crd0")
    g.connect(a_j, "ref", inter, "ref0")
    g.connect(x_j, "crd", inter, "crd1")
    g.connect(x_j, "ref", inter, "ref1")
    g.connect(inter, "ref0", a_v, "ref")
    g.connect(inter, "ref1", x_v, "ref")
    g.connect(a_v, "val", mul, "a")
    g.connect(x_v, "val", mul, "b")
    g.connect(mul, "val", red, "val")
    g.connect(red, "val", y_v, "val")
    kernel = Kernel("k0", g, ("y0",), ("A", "x"), ("y",))
    return Program(tp, [kernel], meta={"fusion": "full", "frontend": "hand-written"})


def all_kinds_graph() -> Graph:
    """A well-formed (not meaningful) graph with at least one node of every kind."""
    g = Graph("all_kinds")

    def scan(fmt: LevelFormat = COMPRESSED, **attrs: object) -> Node:
        r = g.add(K.ROOT)
        s = g.add(K.LEVEL_SCAN, tensor="A", level=0, format=fmt, index="i", **attrs)
        g.connect(r, "ref", s, "ref")
        return s

    def vals(**attrs: object) -> tuple[Node, str]:
        va = g.add(K.VAL_ARRAY, tensor="A", **attrs)
        g.connect(scan(), "ref", va, "ref")
        return va, "val"

    def sink_val(node: Node, port: str) -> None:
        g.connect(node, port, g.add(K.VAL_WRITE, tensor="Z"), "val")

    def sink_crd(node: Node, port: str) -> None:
        g.connect(node, port, g.add(K.LEVEL_WRITE, tensor="Z", level=0, format=COMPRESSED, index="i"), "crd")

    # repeat (of values) driven by a repeat signal
    sig = g.add(K.REPEAT_SIG, index="j", label="broadcast x over j")
    g.connect(scan(DENSE, dim=4), "crd", sig, "crd")
    rep = g.add(K.REPEAT, index="j")
    g.connect(*vals(block=(2, 2)), rep, "in")
    g.connect(sig, "repsig", rep, "repsig")
    sink_val(rep, "out")
    # joiners; the union's extra payload is a value stream
    inter = g.add(K.INTERSECT, index="k", arity=2)
    uni = g.add(K.UNION, index="k", arity=3)
    for i in range(2):
        s = scan()
        g.connect(s, "crd", inter, f"crd{i}")
        g.connect(s, "ref", inter, f"ref{i}")
    g.connect(inter, "crd", uni, "crd0")
    g.connect(inter, "ref0", uni, "ref0")
    for i in (1, 2):
        s = scan()
        g.connect(s, "crd", uni, f"crd{i}")
        g.connect(*(vals() if i == 2 else (s, "ref")), uni, f"ref{i}")
    sink_crd(uni, "crd")
    sink_val(uni, "ref2")
    # ALUs and a reduction
    mul = g.add(K.ALU, op=BinaryOp.MUL, arity=2)
    g.connect(*vals(), mul, "a")
    g.connect(*vals(), mul, "b")
    red = g.add(K.REDUCE, op=ReduceOp.MAX, index="k")
    g.connect(mul, "val", red, "val")
    from fuseflow.ir.program import UnaryOp

    scal = g.add(K.ALU, op=UnaryOp.SCALAR_MUL, arity=1, scalar=0.1)
    g.connect(red, "val", scal, "a")
    relu = g.add(K.ALU, op=UnaryOp.RELU, arity=1)
    g.connect(scal, "val", relu, "a")
    sink_val(relu, "val")
    # sparse accumulators
    sp1 = g.add(K.SPACC1, index="k")
    g.connect(scan(), "crd", sp1, "crd_outer")
    g.connect(scan(), "crd", sp1, "crd_inner")
    g.connect(*vals(), sp1, "val")
    sink_crd(sp1, "crd")
    sink_val(sp1, "val")
    sp2 = g.add(K.SPACC2, index="k", block=(2, 2))
    for port in ("crd_outer", "crd_mid", "crd_inner"):
        g.connect(scan(), "crd", sp2, port)
    g.connect(*vals(), sp2, "val")
    sink_crd(sp2, "crd_mid")
    sink_crd(sp2, "crd_inner")
    sink_val(sp2, "val")
    # coordinate drop and hold
    for kind in (K.CRD_DROP, K.CRD_HOLD):
        n = g.add(kind, index="i")
        g.connect(scan(), "crd", n, "outer")
        g.connect(scan(), "crd", n, "inner")
        sink_crd(n, "outer")
        sink_crd(n, "inner")
    # locate with a base reference
    loc = g.add(K.LOCATE, tensor="B", level=1, index="j", dim=6)
    s = scan()
    g.connect(s, "crd", loc, "crd")
    g.connect(s, "ref", loc, "ref")
    g.connect(scan(), "ref", loc, "base")
    va = g.add(K.VAL_ARRAY, tensor="B")
    g.connect(loc, "located", va, "ref")
    sink_val(va, "val")
    # broadcast, fork and join
    bc = g.add(K.BROADCAST, arity=2)
    g.connect(*vals(), bc, "in")
    sink_val(bc, "out0")
    fork = g.add(K.FORK, arity=2)
    join = g.add(K.JOIN, arity=2)
    g.connect(bc, "out1", fork, "in")
    g.connect(fork, "out0", join, "in0")
    g.connect(fork, "out1", join, "in1", name="lane 1")
    sink_val(join, "out")
    return g


def all_kinds_program() -> Program:
    tp = TensorProgram(name="all_kinds")
    tp.tensors["A"] = TensorDecl("A", (4, 6), TensorFormat.parse("DCSR"))
    tp.tensors["B"] = TensorDecl("B", (4, 6), TensorFormat.parse("CSR"), TensorRole.PARAM)
    tp.tensors["Z"] = TensorDecl("Z", (4,), TensorFormat.parse("c"), TensorRole.OUTPUT)
    g = all_kinds_graph()
    return Program(tp, [Kernel("all_kinds", g, (), ("A", "B"), ("Z",))])


def spmv_data(program: Program) -> Program:
    rng = np.random.default_rng(0)
    a = rng.random((4, 6), dtype=np.float32) * (rng.random((4, 6)) < 0.4)
    x = rng.random(6, dtype=np.float32)
    coords = np.array(np.nonzero(a), dtype=np.int64)
    program.data["A"] = TensorData.from_coo((4, 6), coords, a[tuple(coords)])
    program.data["x"] = TensorData.from_dense(x)
    program.expected["y"] = TensorData.from_dense(a @ x)
    return program


@pytest.fixture
def spmv() -> Program:
    return spmv_program()


@pytest.fixture
def all_kinds() -> Program:
    return all_kinds_program()
