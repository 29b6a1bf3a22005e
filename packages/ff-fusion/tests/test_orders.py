"""Dataflow orders: listing, choosing by index or by explicit list, rejecting bad orders."""

from __future__ import annotations

import functools

import networkx as nx
import numpy as np
import pytest
from fuseflow.fusion.api import list_orders
from fuseflow.fusion.pog import POG, parse_order_choice
from fuseflow.ir.errors import CompileError
from fusion_testlib import A, ProgramBuilder, compile_prog, mul, run, ssum


@functools.cache
def _data():
    adj = nx.to_numpy_array(nx.karate_club_graph(), weight=None).astype(np.float32)
    rng = np.random.default_rng(0)
    return adj, rng.standard_normal((34, 3)).astype(np.float32), rng.standard_normal((3, 2)).astype(np.float32)


def nested_matmul(fusion: str = "full"):
    """Y = (A B) C with A the karate adjacency (CSR), B 34x3 and C 3x2 dense."""
    adj, b, c = _data()
    p = ProgramBuilder("abc")
    p.inp("A", adj, "CSR")
    p.inp("B", b)
    p.inp("C", c)
    p.let("T", "ij", (34, 3), ssum("k", mul(A("A", "ik"), A("B", "kj"))))
    p.let("Y", "il", (34, 2), ssum("j", mul(A("T", "ij"), A("C", "jl"))))
    return p.build(["Y"], fusion, {"Y": adj @ b @ c})


def test_list_orders_counts():
    (ol,) = list_orders(nested_matmul(), n=5)
    assert sorted(ol.vars) == sorted(["i", "l", "k1", "j0"])
    # A is CSR: i before k1; B, C, T are dense and constrain nothing -> 4!/2 orders
    assert ol.count == 12
    assert len(ol.first) == 5 and all(sorted(o) == sorted(ol.vars) for o in ol.first)
    assert len({tuple(o) for o in ol.first}) == 5
    for o in ol.first:
        assert o.index("i") < o.index("k1")


def test_list_orders_unfused_one_listing_per_group():
    ols = list_orders(nested_matmul("unfused"), n=3)
    assert [o.group for o in ols] == ["T", "Y"]
    assert [o.count for o in ols] == [3, 6]  # T: i<k over {i,j,k}; Y: dense operands only, {i,l,j}


def test_order_by_index_and_by_list_agree():
    (ol,) = list_orders(nested_matmul(), n=12)
    for k in (0, 5, 11):
        explicit = ",".join(ol.first[k])
        r1, s1 = run(nested_matmul(), order=str(k))
        r2, s2 = run(nested_matmul(), order=explicit)
        assert s1.check == "pass" and s2.check == "pass"
        assert r1.reports[0].order == r2.reports[0].order == ol.first[k]
        assert s1.cycles == s2.cycles
        assert r1.reports[0].counts == r2.reports[0].counts


def test_order_out_of_range():
    with pytest.raises(CompileError, match="does not exist"):
        compile_prog(nested_matmul(), order="12")


def test_order_breaking_storage_is_rejected():
    with pytest.raises(CompileError, match="breaks fusion") as ei:
        compile_prog(nested_matmul(), order="k1,i,j0,l")
    assert "i must come before k1" in str(ei.value)
    assert "A[i,k1]" in str(ei.value)


def test_order_with_unknown_or_missing_index():
    with pytest.raises(CompileError, match="missing"):
        compile_prog(nested_matmul(), order="i,k1,l")
    with pytest.raises(CompileError, match="unknown"):
        compile_prog(nested_matmul(), order="i,k1,l,j0,z")


def test_pog_count_and_enumeration_agree():
    pog = POG(["a", "b", "c", "d"])
    pog.add_view("X[a,b]", ("a", "b"))
    pog.add_view("Y[c,d]", ("c", "d"))
    orders = list(pog.orders())
    assert pog.count() == len(orders) == 6
    assert orders[0] == pog.first_order() == ["a", "b", "c", "d"]
    assert parse_order_choice("2", pog) == orders[2]
    assert pog.violations(["b", "a", "c", "d"]) == ["a must come before b (storage order of X[a,b])"]


def test_order_that_fits_no_group_is_rejected():
    with pytest.raises(CompileError):
        compile_prog(nested_matmul("unfused"), order="nonsense,order")


def test_order_prefix_picks_first_valid_order_starting_so():
    r, s = run(nested_matmul(), order="l,...")
    assert r.reports[0].order[0] == "l" and s.check == "pass"
    (ol,) = list_orders(nested_matmul(), n=20)
    assert r.reports[0].order in ol.first


def test_order_prefix_breaking_storage_is_rejected():
    with pytest.raises(CompileError, match="k1,... breaks fusion") as ei:
        compile_prog(nested_matmul(), order="k1,...")
    assert "i must come before k1" in str(ei.value)
    with pytest.raises(CompileError, match="unknown z"):
        compile_prog(nested_matmul(), order="z,...")
