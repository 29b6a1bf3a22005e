"""Exact token streams of single primitives: stops, empty fibers, N and D."""

from __future__ import annotations

import math

import numpy as np
import pytest
from fuseflow.ir.data import Level, StoredTensor
from fuseflow.ir.errors import SimulationError
from fuseflow.ir.formats import LevelFormat, TensorFormat
from fuseflow.ir.graph import Attrs, Node, NodeKind, StreamKind
from fuseflow.ir.program import BinaryOp, ReduceOp, UnaryOp
from fuseflow.ir.tokens import DONE, format_tokens
from sim_testlib import run_node, run_nodes

K = NodeKind


def toks(r, port):
    out = []
    for t in r.tokens(port):
        out.append(float(t) if isinstance(t, (float, np.floating)) else t)
    return format_tokens(out)


def _levels(*levels):
    fmt = TensorFormat(tuple(lv.format for lv in levels))
    return {"T": StoredTensor(fmt, tuple(lv.dim for lv in levels), list(levels), np.arange(8, dtype=np.float32))}


def test_singleton_scan():
    st = _levels(Level(LevelFormat.COMPRESSED, 4, seg=np.array([0, 2]), crd=np.array([0, 3])),
                 Level(LevelFormat.SINGLETON, 5, crd=np.array([4, 1])))
    r = run_node(K.LEVEL_SCAN, {"ref": "0 1 S0 D"}, stored=st, tensor="T", level=1, index="j")
    assert toks(r, "crd") == "4 S0 1 S1 D"
    assert toks(r, "ref") == "0 S0 1 S1 D"


def test_scan_empty_fibers_and_n():
    st = _levels(Level(LevelFormat.COMPRESSED, 9, seg=np.array([0, 0, 2, 2]), crd=np.array([1, 5])))
    r = run_node(K.LEVEL_SCAN, {"ref": "0 N 1 2 S0 D"}, stored=st, tensor="T", level=0, index="i")
    assert toks(r, "crd") == "S0 N 1 5 S0 S1 D"


def test_union_n_coordinate_with_nested_stop():
    # input 1 is empty in the last fiber (N), whose stop S1 follows it
    ins = {"crd0": "0 S0 2 S1 D", "ref0": "0 S0 1 S1 D", "crd1": "1 S0 N S1 D", "ref1": "5 S0 N S1 D"}
    r = run_node(K.UNION, ins, arity=2, index="j")
    assert toks(r, "crd") == "0 1 S0 2 S1 D"
    assert toks(r, "ref0") == "0 N S0 1 S1 D"
    assert toks(r, "ref1") == "N 5 S0 N S1 D"


def test_intersect_n_on_one_input_gives_empty_fiber():
    # Comal livelocks here (Q3); the intersection with an empty fiber is empty
    ins = {"crd0": "0 2 S0 1 S1 D", "ref0": "0 1 S0 2 S1 D", "crd1": "N 1 S1 D", "ref1": "N 7 S1 D"}
    r = run_node(K.INTERSECT, ins, arity=2, index="j")
    assert toks(r, "crd") == "S0 1 S1 D"
    assert toks(r, "ref1") == "S0 7 S1 D"


def test_three_way_union():
    ins = {"crd0": "0 S0 D", "ref0": "0 S0 D", "crd1": "1 S0 D", "ref1": "0 S0 D",
           "crd2": "0 1 S0 D", "ref2": "3 4 S0 D"}
    r = run_node(K.UNION, ins, arity=3, index="j")
    assert toks(r, "crd") == "0 1 S0 D"
    assert toks(r, "ref0") == "0 N S0 D" and toks(r, "ref1") == "N 0 S0 D" and toks(r, "ref2") == "3 4 S0 D"


def test_joiner_misaligned_stops_is_an_error():
    ins = {"crd0": "S0 D", "ref0": "S0 D", "crd1": "S1 D", "ref1": "S1 D"}
    with pytest.raises(SimulationError, match="out of step"):
        run_node(K.INTERSECT, ins, arity=2, index="j")


@pytest.mark.parametrize("a,b,want", [
    ("1.0 N S0 N D", "2.0 3.0 S0 N D", "2.0 0.0 S0 N D"),
    ("-2.0 S0 D", "N S0 D", "0.0 S0 D"),
])
def test_binary_alu_with_n(a, b, want):
    r = run_node(K.ALU, {"a": a, "b": b}, op=BinaryOp.MUL, arity=2)
    assert toks(r, "val") == want
    if want.startswith("0.0"):
        assert math.copysign(1.0, float(r.tokens("val")[0])) == 1.0  # no -0.0 (Comal Q7)


def test_mask_and_max():
    r = run_node(K.ALU, {"a": "1.0 5.0 D", "b": "7.0 -3.0 D"}, op=BinaryOp.MASK, arity=2)
    assert toks(r, "val") == "7.0 -3.0 D"
    r = run_node(K.ALU, {"a": "1.0 5.0 D", "b": "7.0 -3.0 D"}, op=BinaryOp.MAX, arity=2)
    assert toks(r, "val") == "7.0 5.0 D"


@pytest.mark.parametrize("op,x,want", [
    (UnaryOp.GELU, 1.0, 0.8413447460685429), (UnaryOp.SIGMOID, 0.0, 0.5), (UnaryOp.RSQRT, 4.0, 0.5),
    (UnaryOp.TANH, 0.5, math.tanh(0.5)), (UnaryOp.NEG, 2.0, -2.0), (UnaryOp.RELU, -1.0, 0.0),
])
def test_unary_ops(op, x, want):
    r = run_node(K.ALU, {"a": f"{x} N S0 D"}, op=op, arity=1)
    got = r.tokens("val")
    assert got[0] == pytest.approx(want, rel=1e-6) and toks(r, "val").endswith("N S0 D")


def test_scalar_unary():
    r = run_node(K.ALU, {"a": "2.0 D"}, op=UnaryOp.SCALAR_DIV, scalar=4.0, arity=1)
    assert toks(r, "val") == "0.5 D"


def test_tile_matmul_timing():
    t = np.arange(4, dtype=np.float32).reshape(2, 2)
    a = [(t, 1), (DONE, 2)]
    r = run_node(K.ALU, {"a": a, "b": [(t, 1), (DONE, 2)]}, op=BinaryOp.MUL, arity=2, block=(2, 2),
                 label="tile_matmul")
    np.testing.assert_allclose(r.tokens("val")[0], t @ t)
    assert r.stamps("val")[0] == 1 + (2 * 2 - 1)  # L = 2B - 1
    assert r.clock == 1 + 2  # II = B


def test_reduce_max_empty_fiber_is_n():
    r = run_node(K.REDUCE, {"val": "-5.0 -2.0 S0 S0 -7.0 -3.0 S1 D"}, op=ReduceOp.MAX)
    assert toks(r, "val") == "-2.0 N -3.0 S0 D"


def test_repeat_signal_n_from_crd_stream():
    sig = Node(0, K.REPEAT_SIG)
    rep = Node(1, K.REPEAT)
    r = run_nodes([(sig, {"crd": "N 4 5 S1 D"}), (rep, {"in": "7 8 S0 D"})], links=[(0, "repsig", 1, "repsig")],
                  kinds={(0, "crd"): StreamKind.CRD})
    assert toks(r, "1.out") == "N 8 8 S1 D"


def test_locate_with_base():
    st = _levels(Level(LevelFormat.DENSE, 3), Level(LevelFormat.DENSE, 10))
    r = run_node(K.LOCATE, {"crd": "1 4 S0 2 S1 D", "ref": "0 1 S0 2 S1 D", "base": "2 2 S0 N S1 D"},
                 stored=st, tensor="T", level=1, index="k")
    assert toks(r, "located") == "21 24 S0 N S1 D"
    assert toks(r, "crd") == "1 4 S0 2 S1 D"


def test_fork_join_round_trip_through_scanners():
    # fork refs to 2 lanes, scan each lane, join: the result equals one scanner's output
    st = _levels(Level(LevelFormat.COMPRESSED, 9, seg=np.array([0, 2, 2, 3, 5]), crd=np.array([1, 2, 0, 3, 4])))
    single = run_node(K.LEVEL_SCAN, {"ref": "0 1 2 3 S0 D"}, stored=st, tensor="T", level=0, index="j")
    fork = Node(0, K.FORK, Attrs(arity=2))
    s0 = Node(1, K.LEVEL_SCAN, Attrs(tensor="T", level=0, index="j"))
    s1 = Node(2, K.LEVEL_SCAN, Attrs(tensor="T", level=0, index="j"))
    join = Node(3, K.JOIN, Attrs(arity=2, level=1))  # the scanned stream lies one level below the fork
    r = run_nodes([(fork, {"in": "0 1 2 3 S0 D"}), (s0, {}), (s1, {}), (join, {})],
                  links=[(0, "out0", 1, "ref"), (0, "out1", 2, "ref"), (1, "crd", 3, "in0"), (2, "crd", 3, "in1")],
                  stored=st)
    assert toks(r, "3.out") == toks(single, "crd") == "1 2 S0 S0 0 S0 3 4 S1 D"


def test_crd_hold_empty_outer_fiber():
    r = run_node(K.CRD_HOLD, {"outer": "S0 5 S1 D", "inner": "S1 1 2 S2 D"})
    assert toks(r, "inner") == "S1 1 2 S2 D"
    assert toks(r, "outer") == "S1 5 5 S2 D"


def test_spacc1_leading_empty_outer_fiber():
    # Comal misaligns when the first outer fiber is empty; FuseFlow consumes its inner stop
    ins = {"crd_outer": "S0 0 S1 D", "crd_inner": "S1 3 S2 D", "val": "S1 2.0 S2 D"}
    r = run_node(K.SPACC1, ins, index="k")
    assert toks(r, "crd") == "S0 3 S1 D"
    assert toks(r, "val") == "S0 2.0 S1 D"


def test_spacc2():
    # two outer k, mid i, inner j: (k0: i0 -> j1; i1 -> j0) (k1: i0 -> j1, j2)
    ins = {"crd_outer": "0 1 S0 D", "crd_mid": "0 1 S0 0 S1 D",
           "crd_inner": "1 S0 0 S1 1 2 S2 D", "val": "1.0 S0 2.0 S1 3.0 4.0 S2 D"}
    r = run_node(K.SPACC2, ins, index="k")
    assert toks(r, "crd_mid") == "0 1 S0 D"
    assert toks(r, "crd_inner") == "1 2 S0 0 S1 D"
    assert toks(r, "val") == "4.0 4.0 S0 2.0 S1 D"


def test_writers_record_everything():
    r = run_node(K.VAL_WRITE, {"val": "1.0 N S0 D"}, tensor="X")
    assert len(r.ctx.values["X"]) == 2  # N is written (as 0), Comal drops it (Q8)
    r = run_node(K.LEVEL_WRITE, {"crd": "0 S0 S0 1 S1 D"}, tensor="X", level=0)
    assert r.procs[0].counters.seg_writes == 3 and r.procs[0].counters.crd_writes == 2


def test_broadcast_and_d():
    r = run_node(K.BROADCAST, {"in": "1 S0 N D"}, arity=3)
    assert toks(r, "out0") == toks(r, "out2") == "1 S0 N D"


@pytest.mark.parametrize("label", ["ab,cb->ac", "ab,bc->ac", "ba,bc->ac", "ab,ab->a", "abc,cbd->abd",
                                   "abc,dbc->abd"])
def test_tile_contraction_by_matmul(label):
    """Tile contractions run as one matmul: einsum's values, and a stack of tiles gives
    each tile's float32 bits exactly (the fast engine stacks, the reference does not)."""
    from fuseflow.sim import ops

    spec, out = label.split("->")
    ins = spec.split(",")
    rng = np.random.default_rng(len(label))
    size = {c: int(rng.integers(2, 20)) for c in "abcd"}
    a, b = (rng.standard_normal((5, *[size[c] for c in x])).astype(np.float32) for x in ins)
    assert ops.by_matmul(ins, out)
    stacked = ops.contract(a, b, ins, out, lead=1)
    for k in range(5):
        one = ops.contract(a[k], b[k], ins, out)
        assert np.array_equal(stacked[k], one)
        np.testing.assert_allclose(one, np.einsum(f"{spec}->{out}", a[k], b[k]), rtol=1e-5, atol=1e-5)
    assert not ops.by_matmul(["ab", "bc"], "a")  # c is summed inside b alone: einsum
