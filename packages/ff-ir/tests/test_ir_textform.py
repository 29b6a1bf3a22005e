"""The text form: golden files, exact round trips, and one-line errors with line numbers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from fuseflow.ir import io
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.errors import IRFormatError, IRVersionError
from fuseflow.ir.formats import TensorFormat
from fuseflow.ir.graph import Graph, NodeKind
from fuseflow.ir.program import (
    Access,
    Assignment,
    Binary,
    BinaryOp,
    Const,
    FusionGroup,
    Reduce,
    ReduceOp,
    TensorDecl,
    TensorProgram,
    TensorRole,
    Unary,
    UnaryOp,
    format_expr,
)

GOLDEN = Path(__file__).parent / "golden"
GOLDEN_FILES = sorted(GOLDEN.glob("*.fftxt"))


def test_golden_files_exist():
    names = {p.name for p in GOLDEN_FILES}
    assert {"spmv_csr.fftxt", "all_kinds.fftxt"} <= names


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_text_ir_text_is_identical(path):
    text = path.read_text()
    assert io.to_text(io.from_text(text, str(path))) == text


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: p.name)
def test_text_binary_text_is_identical(path):
    text = path.read_text()
    prog = io.from_text(text)
    again = io.from_bytes(io.to_bytes(prog))
    assert again == prog
    assert io.to_text(again) == text


def test_spmv_golden_matches_the_built_program(spmv):
    assert io.from_text((GOLDEN / "spmv_csr.fftxt").read_text()) == spmv
    assert io.to_text(spmv) == (GOLDEN / "spmv_csr.fftxt").read_text()


def test_all_kinds_golden_holds_every_kind(all_kinds):
    prog = io.from_text((GOLDEN / "all_kinds.fftxt").read_text())
    assert prog == all_kinds
    kinds = {n.kind for n in prog.kernels[0].graph.nodes.values()}
    assert kinds == set(NodeKind)


def test_expressions_print_like_format_expr(spmv):
    a = spmv.program.assignments[0]
    assert f"{format_expr(a.output)} = {format_expr(a.value)}" in io.to_text(spmv)


def _odd_program() -> Program:
    """Names that need quoting, scalar tensors, odd floats, views, qualified ops, empty lists."""
    tp = TensorProgram(name="odd program")
    tp.tensors["s"] = TensorDecl("s", (), TensorFormat(()), TensorRole.PARAM)
    tp.tensors["w.0"] = TensorDecl("w.0", (2, 3), TensorFormat.parse("cc@1,0#1x3"), TensorRole.PARAM,
                                   index_names=("row", "col"))
    tp.tensors["odd name"] = TensorDecl("odd name", (3, 2), TensorFormat.parse("dd"),
                                        TensorRole.INTERMEDIATE, view_of="w.0")
    tp.tensors["sum"] = TensorDecl("sum", (2,), TensorFormat.parse("d"), TensorRole.OUTPUT)
    body = Binary(BinaryOp.MAX, Unary(UnaryOp.SCALAR_MUL, Access("w.0", ("i", "j")), 0.1),
                  Unary(UnaryOp.NEG, Const(float("-inf"))))
    tp.assignments.append(Assignment("a-1", Access("sum", ("i",)), Reduce(ReduceOp.MAX, ("j",), body),
                                     source='model.py:3 "quoted"'))
    tp.assignments.append(Assignment("e2", Access("s", ()), Binary(BinaryOp.ADD, Const(1e-300), Access("s", ()))))
    tp.groups = [FusionGroup("g", ("a-1", "e2")), FusionGroup("empty", ())]
    tp.outputs = ("sum", "odd name")
    g = Graph("inner graph")
    g.add(NodeKind.ALU, op=BinaryOp.MAX, arity=2, label="x=1 \"y\"", scalar=2.5e-7)
    g.add(NodeKind.REDUCE, op=BinaryOp.MAX)  # ill-typed on purpose: printed qualified
    g.add(NodeKind.ALU, op=ReduceOp.SUM, block=())
    g.connect(0, "val", 1, "val", name="a b")
    g.connect(1, "val", 2, "a")
    g.streams.append(g.streams[0].__class__(7, g.streams[0].kind, g.streams[0].src.__class__(-3, "odd port"),
                                            g.streams[0].dst, ""))
    return Program(tp, [Kernel("k 0", g, ("a-1",), ("w.0",), ())], meta={"z": "last", "a key": "x\ny"})


def test_odd_program_round_trips():
    prog = _odd_program()
    text = io.to_text(prog)
    back = io.from_text(text)
    assert back == prog
    assert io.to_text(back) == text
    assert io.from_bytes(io.to_bytes(prog)) == prog
    assert '"odd name"[' in text
    assert "reduce op=binary.max" in text and "alu op=sum" in text  # qualified only when ambiguous


def test_floats_round_trip_exactly():
    for x in (0.1, 1 / 3, 1e-300, 5e-324, 1.7976931348623157e308, -0.0, float("inf")):
        tp = TensorProgram(tensors={"s": TensorDecl("s", (), TensorFormat(()))})
        tp.assignments.append(Assignment("e", Access("s", ()), Unary(UnaryOp.SCALAR_ADD, Const(x), x)))
        back = io.from_text(io.to_text(Program(tp)))
        got = back.program.assignments[0].value
        assert got.scalar == x and got.operand.value == x
        assert math.copysign(1, got.scalar) == math.copysign(1, x)


def test_comments_and_blank_lines_are_ignored(spmv):
    text = io.to_text(spmv).replace("program spmv\n", "program spmv\n\n# a comment\n   \n")
    assert io.from_text(text) == spmv


@pytest.mark.parametrize("bad, line, words", [
    ("fuseflow-ir 1.0\nprogram p\ntensor A[4,x] f32 d input\n", 3, "integer"),
    ("fuseflow-ir 1.0\ntensor A[4] f32 q input\n", 2, "level format letter"),
    ("fuseflow-ir 1.0\ntensor A[4] f99 d input\n", 2, "dtype"),
    ("fuseflow-ir 1.0\nexpr e: y[i] = mul(A[i], \n", 2, "expression"),
    ("fuseflow-ir 1.0\nexpr e: y[i] = frob(A[i])\n", 2, "unknown operation"),
    ("fuseflow-ir 1.0\nbogus line\n", 2, "unknown line kind"),
    ("fuseflow-ir 1.0\nkernel k\n  node 0 root\n  node 0 root\nend\n", 4, "defined twice"),
    ("fuseflow-ir 1.0\nkernel k\n  node 0 teleport\nend\n", 3, "node kind"),
    ("fuseflow-ir 1.0\nkernel k\n  node 0 alu op=frob\nend\n", 3, "unknown op"),
    ("fuseflow-ir 1.0\nkernel k\n  node 0 root colour=red\nend\n", 3, "key=value"),
    ("fuseflow-ir 1.0\nkernel k\n  stream 0 crd 0.crd 1.crd\nend\n", 3, "stream ID"),
    ("fuseflow-ir 1.0\nkernel k\n  node 0 root label=\"open\nend\n", 3, "unterminated"),
    ("fuseflow-ir 1.0\nkernel k\n  node 0 root\n", 2, "not closed"),
    ("fuseflow-ir 1.0\nnode 0 root\n", 2, "unknown line kind"),
])
def test_syntax_errors_name_the_line(bad, line, words):
    with pytest.raises(IRFormatError) as e:
        io.from_text(bad, "f.fftxt")
    msg = str(e.value)
    assert msg.startswith(f"f.fftxt:{line}:"), msg
    assert words in msg
    assert "\n" not in msg


def test_header_problems():
    with pytest.raises(IRFormatError, match="empty file"):
        io.from_text("\n  \n", "x")
    with pytest.raises(IRFormatError, match="first line"):
        io.from_text("hello\n", "x")
    with pytest.raises(IRVersionError, match="newer"):
        io.from_text("fuseflow-ir 9.0\nprogram p\n", "x")
    assert io.from_text("fuseflow-ir 1.7\nprogram p\n").version == (1, 7)  # newer minor reads
