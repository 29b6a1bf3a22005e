"""tortilla (Comal) interchange: export, import, and round trips."""

from __future__ import annotations

import pytest

from fuseflow.ir import io, tortilla
from fuseflow.ir._proto import tortilla_pb2 as tp
from fuseflow.ir.errors import IRFormatError
from fuseflow.ir.graph import Graph, NodeKind
from fuseflow.ir.program import BinaryOp, ReduceOp, UnaryOp
from fuseflow.ir.verify import verify_graph


def _round_trip(g: Graph) -> Graph:
    blob = tortilla.graph_to_tortilla(g).SerializeToString()
    return tortilla.graph_from_tortilla(tp.ComalGraph.FromString(blob))


def test_all_kinds_round_trip_is_structurally_equal(all_kinds):
    g = all_kinds.kernels[0].graph
    assert {n.kind for n in g.nodes.values()} == set(NodeKind)
    back = _round_trip(g)
    assert back == g
    verify_graph(back)


def test_program_round_trip_through_a_file(tmp_path, spmv):
    path = tmp_path / "spmv.tortilla"
    io.save(spmv, path)
    prog = io.load(path)
    k = prog.kernels[0]
    assert k.graph == spmv.kernels[0].graph
    assert (k.name, k.inputs, k.outputs) == ("k0", ("A", "x"), ("y",))
    assert io.load(path).kernels[0].graph == k.graph
    # recognized by content whatever the extension
    other = tmp_path / "spmv.bin"
    other.write_bytes(path.read_bytes())
    assert io.load(other).kernels[0].graph == k.graph


@pytest.mark.parametrize("op", [*UnaryOp, *BinaryOp])
def test_every_alu_op_round_trips(op):
    g = Graph("alu")
    binary = isinstance(op, BinaryOp)
    scalar = 3.0 if isinstance(op, UnaryOp) and op.takes_scalar else None
    alu = g.add(NodeKind.ALU, op=op, arity=2 if binary else 1, scalar=scalar)
    for i in range(2 if binary else 1):
        g.connect(g.add(NodeKind.VAL_ARRAY, tensor="A"), "val", alu, chr(ord("a") + i))
    g.connect(alu, "val", g.add(NodeKind.VAL_WRITE, tensor="Z"), "val")
    assert _round_trip(g) == g


def test_native_fields_carry_the_common_attributes(spmv):
    msg = tortilla.graph_to_tortilla(spmv.kernels[0].graph)
    ops = {op.id: op for op in msg.graph.operators}
    scan = ops[2].fiber_lookup
    assert (scan.tensor, scan.mode, scan.format, scan.index) == ("A", 1, "compressed", "j")
    assert ops[1].fiber_lookup.root
    assert ops[12].alu.stages[0].op == tp.ALU.MUL
    assert ops[13].reduce.reduce_type == tp.Reduce.ADD
    assert ops[9].joiner.join_type == tp.Joiner.INTERSECT
    # only what tortilla cannot say goes to the extension (present on every op, to mark the file as ours)
    assert ops[1].ff.dim == 4 and ops[2].ff == tp.FuseFlowAttrs()  # empty: a FuseFlow mark, nothing extra
    assert ops[13].ff.index == "j"


def test_import_of_a_plain_comal_graph():
    """A graph as the Comal tools write it (no FuseFlow extension): root -> scan -> array -> write."""
    msg = tp.ComalGraph(name="plain", channel_size=1024)
    msg.graph.name = "plain"
    root = msg.graph.operators.add(id=1, name="root")
    root.root.output_ref.id.id = 10
    scan = msg.graph.operators.add(id=2, name="scan")
    f = scan.fiber_lookup
    f.input_ref.id.id, f.output_ref.id.id, f.output_crd.id.id = 10, 11, 12
    f.tensor, f.mode, f.format, f.index = "B", 0, "compressed", "i"
    arr = msg.graph.operators.add(id=3)
    arr.array.tensor = "B"
    arr.array.input_ref.id.id, arr.array.output_val.id.id = 11, 13
    arr.array.blocked, arr.array.stream_shape = True, 4
    alu = msg.graph.operators.add(id=4)
    alu.alu.vals.inputs.add().id.id = 13
    alu.alu.vals.output.id.id = 14
    alu.alu.stages.add(inputs=[0], output=1, op=tp.ALU.MAX)
    alu.alu.scalar = 0.0
    vw = msg.graph.operators.add(id=5)
    vw.val_write.input_val.id.id, vw.val_write.tensor = 14, "X"
    fw = msg.graph.operators.add(id=6)
    fw.fiber_write.input_crd.id.id, fw.fiber_write.tensor, fw.fiber_write.mode_val = 12, "X", "0"
    fw.fiber_write.format = "compressed"
    prog = tortilla.program_from_tortilla(msg.SerializeToString(), "plain.tortilla")
    g = prog.kernels[0].graph
    assert [n.kind for n in g.nodes.values()] == [NodeKind.ROOT, NodeKind.LEVEL_SCAN, NodeKind.VAL_ARRAY,
                                                  NodeKind.ALU, NodeKind.VAL_WRITE, NodeKind.LEVEL_WRITE]
    assert g.nodes[3].attrs.block == (4, 4)
    assert (g.nodes[4].attrs.op, g.nodes[4].attrs.scalar) == (UnaryOp.SCALAR_MAX, 0.0)
    assert [(s.id, s.kind.value) for s in g.streams] == [(9, "ref"), (10, "ref"), (11, "crd"), (12, "val"),
                                                         (13, "val")]
    assert prog.kernels[0].inputs == ("B",) and prog.kernels[0].outputs == ("X",)
    verify_graph(g)


def test_reduce_and_joiner_import():
    msg = tp.ComalGraph()
    op = msg.graph.operators.add(id=0)
    op.reduce.reduce_type = tp.Reduce.ADDSUM
    op2 = msg.graph.operators.add(id=1)
    op2.joiner.join_type = tp.Joiner.UNION
    op2.joiner.input_pairs.add()
    op2.joiner.input_pairs.add()
    g = tortilla.graph_from_tortilla(msg)
    assert g.nodes[0].attrs.op is ReduceOp.SUM
    assert (g.nodes[1].kind, g.nodes[1].attrs.arity) == (NodeKind.UNION, 2)


@pytest.mark.parametrize("mutate, words", [
    (lambda m: m.graph.operators.add(id=0).coord_mask.SetInParent(), "no FuseFlow counterpart"),
    (lambda m: m.graph.operators.add(id=0), "has no op"),
    (lambda m: [m.graph.operators.add(id=0).root.SetInParent(), m.graph.operators.add(id=0).root.SetInParent()],
     "used twice"),
    (lambda m: setattr(m.graph.operators.add(id=0).root.output_ref.id, "id", 5), "no reader"),
    (lambda m: setattr(m.graph.operators.add(id=0).fiber_lookup, "format", "zigzag"), "level format"),
])
def test_bad_graphs_are_format_errors(mutate, words):
    msg = tp.ComalGraph(name="bad")
    mutate(msg)
    with pytest.raises(IRFormatError, match=words):
        tortilla.program_from_tortilla(msg.SerializeToString(), "bad.tortilla")


def test_export_refuses_what_tortilla_cannot_hold(spmv, all_kinds):
    two = spmv.__class__(spmv.program, spmv.kernels + all_kinds.kernels)
    with pytest.raises(IRFormatError, match="one kernel"):
        tortilla.program_to_tortilla(two)
    g = Graph("g")
    r = g.add(NodeKind.ROOT)
    s = g.add(NodeKind.LEVEL_SCAN)
    g.connect(r, "ref", s, "nonsense")
    with pytest.raises(IRFormatError, match="does not join ports"):
        tortilla.graph_to_tortilla(g)


def test_join_count_round_trips():
    """A join's optional ``count`` input (the forked coordinates) travels in the ff extension."""
    from fuseflow.ir.graph import Attrs, Node, PortRef, Stream, StreamKind

    nodes = {0: Node(0, NodeKind.ROOT), 1: Node(1, NodeKind.BROADCAST, Attrs(arity=3)),
             2: Node(2, NodeKind.JOIN, Attrs(arity=2, index="i", level=1))}
    ends = [("ref", "in"), ("out0", "in0"), ("out1", "in1"), ("out2", "count")]
    streams = [Stream(k, StreamKind.CRD if dst == "count" else StreamKind.REF,
                      PortRef(0 if k == 0 else 1, src), PortRef(1 if k == 0 else 2, dst))
               for k, (src, dst) in enumerate(ends)]
    g = Graph("j", nodes, streams)
    back = _round_trip(g)
    assert sorted(s.dst.port for s in back.streams) == sorted(s.dst.port for s in g.streams)
    assert {(s.src.port, s.dst.port) for s in back.streams} == {(s.src.port, s.dst.port) for s in g.streams}
