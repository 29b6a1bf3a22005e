"""The verifier: one test per class of problem, each message naming the node and port."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from fuseflow.ir.data import TensorData
from fuseflow.ir.errors import VerificationError
from fuseflow.ir.graph import Graph, NodeKind, PortRef, Stream, StreamKind
from fuseflow.ir.program import (
    Access,
    Assignment,
    Binary,
    BinaryOp,
    FusionGroup,
    Reduce,
    ReduceOp,
    UnaryOp,
)
from fuseflow.ir.verify import graph_problems, verify_graph, verify_program

K = NodeKind


def _problems(prog) -> list[str]:
    with pytest.raises(VerificationError) as e:
        verify_program(prog)
    return e.value.problems


def _one(prog, *words: str) -> str:
    probs = _problems(prog)
    hits = [p for p in probs if all(w in p for w in words)]
    assert hits, probs
    return hits[0]


def _graph(prog) -> Graph:
    return prog.kernels[0].graph


def test_valid_programs_pass(spmv, all_kinds):
    verify_program(spmv)
    verify_program(all_kinds)


def test_unconnected_input(spmv):
    g = _graph(spmv)
    g.streams = [s for s in g.streams if s.dst != PortRef(12, "b")]
    msg = _one(spmv, "input port 'b'", "not connected")
    assert "alu#12" in msg
    # ... and the value array that fed it now has an unread output
    _one(spmv, "val_array#11", "output port 'val'", "no reader")


def test_droppable_outputs_may_stay_unread(spmv):
    # the intersect's crd (index j is reduced away) is unread in the valid graph already
    assert not any(s.src == PortRef(9, "crd") for s in _graph(spmv).streams)
    verify_program(spmv)


def test_output_with_no_reader(spmv):
    g = _graph(spmv)
    g.streams = [s for s in g.streams if s.src != PortRef(0, "ref")]
    _one(spmv, "root#0", "output port 'ref'", "no reader")


def test_two_readers_of_one_port(spmv):
    g = _graph(spmv)
    extra = g.add(K.VAL_WRITE, tensor="y")
    g.connect(13, "val", extra, "val")
    _one(spmv, "reduce#13", "output port 'val'", "2 readers")


def test_two_writers_into_one_port(spmv):
    g = _graph(spmv)
    src = g.add(K.VAL_ARRAY, tensor="x")
    g.connect(src, "val", 14, "val")
    _one(spmv, "val_write#14", "input port 'val'", "2 writers")


def test_stream_kind_not_accepted(spmv):
    g = _graph(spmv)
    g.streams = [Stream(s.id, StreamKind.CRD, s.src, s.dst) if s.dst == PortRef(14, "val") else s
                 for s in g.streams]
    _one(spmv, "val_write#14", "'val'", "takes val, not crd")


def test_polymorphic_port_kinds_must_agree(spmv):
    g = _graph(spmv)
    g.streams = [Stream(s.id, StreamKind.VAL, s.src, s.dst) if s.dst == PortRef(7, "in") else s
                 for s in g.streams]
    _one(spmv, "repeat#7", "output port 'out' carries ref but input port 'in' carries val")


def test_stream_to_missing_node_or_port(spmv):
    g = _graph(spmv)
    g.streams.append(Stream(99, StreamKind.VAL, PortRef(13, "val"), PortRef(77, "val")))
    g.streams.append(Stream(98, StreamKind.VAL, PortRef(12, "nope"), PortRef(14, "val")))
    _one(spmv, "stream 99", "node 77 does not exist")
    _one(spmv, "stream 98", "alu#12", "no output port 'nope'")


def test_duplicate_stream_id(spmv):
    g = _graph(spmv)
    g.streams[1] = Stream(0, g.streams[1].kind, g.streams[1].src, g.streams[1].dst)
    _one(spmv, "stream id 0 is used twice")


def test_cycle():
    g = Graph("loop")
    a = g.add(K.ALU, op=UnaryOp.EXP, arity=1)
    b = g.add(K.ALU, op=UnaryOp.EXP, arity=1)
    g.connect(a, "val", b, "a")
    g.connect(b, "val", a, "a")
    assert any("cycle" in p and "alu#0" in p for p in graph_problems(g))


def test_missing_required_attribute(spmv):
    g = _graph(spmv)
    g.set_attrs(13, op=None)
    g.set_attrs(10, tensor=None)
    _one(spmv, "reduce#13", "missing required attribute 'op'")
    _one(spmv, "val_array#10", "missing required attribute 'tensor'")


def test_arity_out_of_range_and_op_checks():
    g = Graph("g")
    g.add(K.INTERSECT, index="i", arity=1)
    g.add(K.ALU, op=BinaryOp.ADD, arity=1)
    g.add(K.ALU, op=UnaryOp.SCALAR_MUL, arity=1)
    g.add(K.REDUCE, op=BinaryOp.ADD)
    probs = graph_problems(g)
    for words in ("intersect#0 [i]: arity 1 out of range (2..1024)", "alu#1 add: arity 1 does not fit op 'add'",
                  "needs attribute 'scalar'", "reduce op 'add' is not a reduction"):
        assert any(words in p for p in probs), (words, probs)


def test_tensor_not_declared(spmv):
    _graph(spmv).set_attrs(10, tensor="Q")
    _one(spmv, "val_array#10 Q", "tensor 'Q' is not declared")


def test_level_beyond_tensor_order(spmv):
    _graph(spmv).set_attrs(2, level=5)
    _one(spmv, "level_scan#2", "level 5", "2 levels")


def test_kernel_inputs_outputs_declared(spmv):
    k = spmv.kernels[0]
    k.inputs = k.inputs + ("W",)
    k.outputs = ("Y",)
    k.assignments = ("nope",)
    _one(spmv, "kernel k0: input tensor 'W' is not declared")
    _one(spmv, "kernel k0: output tensor 'Y' is not declared")
    _one(spmv, "computes unknown expression 'nope'")


def test_problems_are_all_reported_together(spmv):
    g = _graph(spmv)
    g.set_attrs(13, op=None)
    g.set_attrs(10, tensor="Q")
    assert len(_problems(spmv)) >= 2


def test_verify_graph_without_tensors(spmv):
    verify_graph(_graph(spmv))
    _graph(spmv).set_attrs(10, tensor="Q")
    verify_graph(_graph(spmv))  # no declarations given: not checked
    with pytest.raises(VerificationError, match="not declared"):
        verify_graph(_graph(spmv), spmv.program.tensors)


# ---- tensor program ---------------------------------------------------------------

def _assign(spmv, value, out=("y", ("i",))):
    spmv.program.assignments[0] = Assignment("y0", Access(out[0], out[1]), value)
    return spmv


def test_assignment_output_declared(spmv):
    body = copy.deepcopy(spmv.program.assignments[0].value)
    _one(_assign(spmv, body, ("z", ("i",))), "expression y0: output tensor 'z' is not declared")


def test_access_arity_matches_order(spmv):
    body = Reduce(ReduceOp.SUM, ("j",), Binary(BinaryOp.MUL, Access("A", ("j",)), Access("x", ("j",))))
    _one(_assign(spmv, body), "A[j] has 1 indices but 'A' has order 2")
    _one(_assign(spmv, Access("w", ("i",))), "tensor 'w' is not declared")


def test_reduction_indices_bound(spmv):
    body = Binary(BinaryOp.MUL, Access("A", ("i", "j")), Access("x", ("j",)))
    _one(_assign(spmv, body), "index 'j' is neither an output index nor bound by a reduction")
    body = Reduce(ReduceOp.SUM, ("k",), Reduce(ReduceOp.SUM, ("j",), body))
    _one(_assign(spmv, body), "reduction over 'k', which its body does not use")
    body = Reduce(ReduceOp.SUM, ("i",), Access("x", ("i",)))
    _one(_assign(spmv, body), "reduction over 'i'")


def test_output_indices_appear_in_body(spmv):
    body = Reduce(ReduceOp.SUM, ("j",), Access("x", ("j",)))
    _one(_assign(spmv, body), "output index 'i' does not appear in the body")


def test_groups_outputs_views_and_shapes(spmv):
    tp = spmv.program
    tp.groups.append(FusionGroup("g1", ("ghost",)))
    tp.outputs = ("y", "ghost")
    tp.tensors["x"] = tp.tensors["x"].__class__("x", (6, 2), tp.tensors["x"].format, view_of="nothing")
    _one(spmv, "group g1: unknown expression 'ghost'")
    _one(spmv, "output 'ghost' is not a declared tensor")
    _one(spmv, "tensor 'x': format d has 1 levels but the shape [6, 2] has 2 modes")
    _one(spmv, "view of undeclared tensor 'nothing'")


def test_data_matches_declarations(spmv):
    spmv.data["A"] = TensorData.from_dense(np.zeros((3, 3)))
    spmv.data["B"] = TensorData.from_dense(np.zeros(3))
    _one(spmv, "data for 'A' has shape [3, 3], declared [4, 6]")
    _one(spmv, "data for undeclared tensor 'B'")


def test_absurd_arity_is_reported_not_expanded():
    g = Graph("g")
    g.add(K.BROADCAST, arity=10**12)
    assert any("out of range (1..1024)" in p for p in graph_problems(g))
