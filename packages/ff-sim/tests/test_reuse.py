"""Kernel-level reuse of figures (fuseflow.sim.reuse): a kernel equal to one already
simulated (graph up to tensor names, input structure, hardware, engine) copies its
figures and gets its outputs from the interpreter; a kernel whose input structure
differs is simulated."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
from fuseflow.ir import examples as ex
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.graph import Graph, Node
from fuseflow.ir.program import (
    Access,
    Assignment,
    Binary,
    BinaryOp,
    Reduce,
    ReduceOp,
    TensorProgram,
    TensorRole,
)
from fuseflow.sim import simulate
from fuseflow.sim.result import SimResult

N = 12


def _csr(rng: np.random.Generator, density: float) -> TensorData:
    dense = rng.standard_normal((N, N)).astype(np.float32) * (rng.random((N, N)) < density)
    return TensorData.from_dense(dense)


def _renamed(k: Kernel, name: str, rename: dict[str, str]) -> Graph:
    g = Graph(name)
    for nid, n in k.graph.nodes.items():
        t = n.attrs.tensor
        g.nodes[nid] = n if t is None else Node(n.id, n.kind, replace(n.attrs, tensor=rename[t]))
    g.streams = list(k.graph.streams)
    return g


def _mv(m: str, v: str) -> Reduce:
    return Reduce(ReduceOp.SUM, ("j",), Binary(BinaryOp.MUL, Access(m, ("i", "j")), Access(v, ("j",))))


def _chain(a1: TensorData, a2: TensorData) -> Program:
    """y1 = A1 x; y2 = A2 y1: two SpMV kernels equal up to their tensors' names."""
    one = ex.spmv(N, N)
    k, t = one.kernels[0], one.program.tensors
    decls = {"A1": replace(t["A"], name="A1"), "x": t["x"],
             "y1": replace(t["y"], name="y1", role=TensorRole.INTERMEDIATE),
             "A2": replace(t["A"], name="A2"), "y2": replace(t["y"], name="y2")}
    asgs = [Assignment("mv1", Access("y1", ("i",)), _mv("A1", "x")),
            Assignment("mv2", Access("y2", ("i",)), _mv("A2", "y1"))]
    kernels = [Kernel("k0", _renamed(k, "spmv1", {"A": "A1", "x": "x", "y": "y1"}), ("mv1",), ("A1", "x"), ("y1",)),
               Kernel("k1", _renamed(k, "spmv2", {"A": "A2", "x": "y1", "y": "y2"}), ("mv2",), ("A2", "y1"), ("y2",))]
    x = TensorData.from_dense(np.random.default_rng(3).standard_normal(N).astype(np.float32))
    return Program(TensorProgram(decls, asgs, [], ("y2",), "chain"), kernels, {"A1": a1, "A2": a2, "x": x})


def _figures(r: SimResult) -> list[dict]:
    return [{k: v for k, v in kr.to_json_dict().items() if k != "reused_from"} for kr in r.kernels]


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_same_structure_other_values_reuses_and_matches(engine: str) -> None:
    rng = np.random.default_rng(0)
    a1 = _csr(rng, 0.3)
    pattern = a1.dense != 0
    a2 = TensorData.from_dense(np.where(pattern, rng.standard_normal((N, N)), 0).astype(np.float32))
    p = _chain(a1, a2)
    on = simulate(p, engine=engine, check=True)
    off = simulate(p, engine=engine, check=True, engine_options={"reuse": False})
    assert on.reused == {"k1": "k0"} and off.reused == {}
    assert [k.reused_from for k in on.kernels] == ["", "k0"]
    assert _figures(on) == _figures(off) and on.cycles == off.cycles and on.counters == off.counters
    assert on.per_primitive == off.per_primitive
    assert any("A2" in name for name in on.per_primitive)  # per-primitive names are this kernel's
    assert on.check == off.check == "pass"  # against the interpreter on A1, A2, x
    np.testing.assert_allclose(on.outputs["y2"].to_dense(), off.outputs["y2"].to_dense(), rtol=1e-5, atol=1e-5)
    assert json.loads(json.dumps(on.to_json_dict()))["reused_kernels"] == 1


def test_other_structure_is_simulated() -> None:
    rng = np.random.default_rng(1)
    a1, a2 = _csr(rng, 0.3), _csr(rng, 0.3)  # same density, different non-zeros
    assert not np.array_equal(a1.dense != 0, a2.dense != 0)
    p = _chain(a1, a2)
    on = simulate(p, check=True)
    off = simulate(p, check=True, engine_options={"reuse": False})
    assert on.reused == {} and on.to_json_dict()["reused_kernels"] == 0
    assert _figures(on) == _figures(off) and on.check == "pass"


def test_zeros_in_dense_data_are_structure_of_a_sparse_format() -> None:
    """A2 given as a dense array with one more zero: stored as CSR it has one entry less,
    so the structure (and the figures) differ and nothing is reused."""
    rng = np.random.default_rng(2)
    a1 = _csr(rng, 0.5)
    d2 = a1.to_dense().copy()
    d2[np.argwhere(d2 != 0)[0][0], np.argwhere(d2 != 0)[0][1]] = 0.0
    on = simulate(_chain(a1, TensorData.from_dense(d2)), check=True)
    assert on.reused == {} and on.check == "pass"


def test_trace_simulates_every_kernel(tmp_path) -> None:  # type: ignore[no-untyped-def]  # pytest fixture
    rng = np.random.default_rng(0)
    a1 = _csr(rng, 0.3)
    r = simulate(_chain(a1, a1), trace_path=tmp_path / "t.json")
    assert r.reused == {} and set(r.trace) == {"k0", "k1"}


def test_no_reuse_flag_and_summary(tmp_path) -> None:  # type: ignore[no-untyped-def]  # pytest fixture
    from fuseflow.ir import io
    from fuseflow.ir.cli import build_app
    from typer.testing import CliRunner

    rng = np.random.default_rng(0)
    a1 = _csr(rng, 0.3)
    path = tmp_path / "chain.ffir"
    io.save(_chain(a1, a1), path)
    runner, app = CliRunner(), build_app()
    on = runner.invoke(app, ["sim", str(path), "--check"])
    assert on.exit_code == 0, on.output
    assert "reuse: 1 of 2 kernels reused" in on.output and "(reused k0)" in on.output
    off = runner.invoke(app, ["sim", str(path), "--no-reuse", "--json"])
    assert off.exit_code == 0, off.output
    assert json.loads(off.output)["reused_kernels"] == 0


def test_a_kernel_too_big_to_interpret_is_simulated(monkeypatch: pytest.MonkeyPatch) -> None:
    from fuseflow.sim import reuse

    monkeypatch.setattr(reuse, "DENSE_LIMIT", 16)  # bytes: every kernel is "too big"
    a1 = _csr(np.random.default_rng(0), 0.3)
    p = _chain(a1, a1)
    r = simulate(p, check=True)
    off = simulate(p, check=True, engine_options={"reuse": False})
    assert r.reused == {} and _figures(r) == _figures(off) and r.check == "pass"


def test_bad_data_is_still_reported_by_the_simulation() -> None:
    """Computing the key must not pre-empt the simulator's error naming the tensor."""
    from fuseflow.ir.errors import SimulationError

    rng = np.random.default_rng(0)
    p = _chain(_csr(rng, 0.3), _csr(rng, 0.3))
    p.data["A1"] = TensorData.from_dense(np.ones((N, N, 2), np.float32))  # 3 modes for a 2-level format
    with pytest.raises(SimulationError, match="A1"):
        simulate(p)
