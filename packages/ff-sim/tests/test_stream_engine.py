"""The fast engine's streaming path (fast/stream/): which kernels it takes, that its queues
stay small, and that a kernel it cannot finish runs on the reference. Its exactness against the
reference engine is tested with every other fast-engine test (test_fast_engine.py runs
them streaming, with 3-token queues, and on one thread)."""

from __future__ import annotations

import numpy as np
import pytest
from fuseflow.sim import simulate
from fuseflow.sim.fast.stream import engine as stream
from fuseflow.sim.options import EngineOptions


def _gcn(fusion, data="karate", **opts):
    from fuseflow.fusion.api import compile_model

    return compile_model("gcn", {k: str(v) for k, v in opts.items()}, data, fusion).program


@pytest.mark.parametrize("fusion", ["unfused", "partial", "full"])
def test_every_gcn_kernel_streams(fusion):
    prog = _gcn(fusion)
    before = stream.STATS["streamed"]
    simulate(prog, engine="fast")
    assert stream.STATS["streamed"] - before == len(prog.kernels)


@pytest.mark.parametrize("hw", ["default", "no-hbm"])
def test_queues_stay_small(hw, monkeypatch):
    """Fully fused GCN recomputes layer 1 per nonzero of A: its streams are far longer
    than any queue the run needs (the whole-stream path held them all)."""
    monkeypatch.setitem(stream.STATS, "largest queue", 0)
    prog = _gcn("full", "random:nodes=60,density=0.08,seed=3,features=40", hidden=8)
    r = simulate(prog, hw=hw, engine="fast", engine_options=EngineOptions(queue_capacity=64, queue_grown=64))
    ref = simulate(prog, hw=hw, engine="reference")
    assert (r.cycles, r.counters) == (ref.cycles, ref.counters)
    longest = max(c.tokens for c in r.per_primitive.values())
    assert longest > 20_000
    assert stream.STATS["largest queue"] <= longest // 8


def test_an_irregular_kernel_runs_on_the_reference(monkeypatch):
    """A step function that meets an input it does not take hands the kernel back: the
    reference engine runs it, with the same figures."""
    from fuseflow.sim.fast.stream import nodes
    from fuseflow.sim.fast.stream.common import IRREGULAR

    prog = _gcn("partial")
    ref = simulate(prog, engine="reference")
    monkeypatch.setattr(nodes.flow, "repeat_step", lambda *a: IRREGULAR)
    before = stream.STATS["irregular"]
    got = simulate(prog, engine="fast")
    assert stream.STATS["irregular"] - before == len(prog.kernels)
    assert (got.cycles, got.counters, got.per_primitive) == (ref.cycles, ref.counters, ref.per_primitive)
    for name, t in ref.outputs.items():
        assert np.asarray(t.to_dense()).tobytes() == np.asarray(got.outputs[name].to_dense()).tobytes()


def test_horizon_holds_back_a_higher_client(monkeypatch):
    """Two value arrays of one kernel contend for the same channels: the later (higher
    id) one must see every slot the earlier one takes, even those it takes later in the
    run. With queues of 2 tokens the higher client keeps reaching slots the lower one has
    not decided yet, and must wait."""
    from fuseflow.ir import examples as ex

    prog = ex.elementwise(ex.BinaryOp.MUL, 12, 11, "dd")
    ref = simulate(prog, engine="reference", random_inputs=1)
    before = stream.STATS["memory waits"]
    got = simulate(prog, engine="fast", random_inputs=1,
                   engine_options=EngineOptions(queue_capacity=2, queue_grown=2))
    assert stream.STATS["memory waits"] > before
    assert (got.cycles, got.per_primitive) == (ref.cycles, ref.per_primitive)


def test_bounds_checked_run(tmp_path):
    """The step functions run without bounds checks. With --boundscheck they are
    checked (an index bug raises instead of corrupting memory): 3-token queues make every
    one of them stop and resume at every point, on both presets."""
    import json
    import subprocess
    import sys

    from fuseflow.ir import io

    path = tmp_path / "p.ffir"
    io.save(_gcn("full"), path)
    code = ("import json, sys; from fuseflow.ir import io; from fuseflow.sim import simulate; "
            "from fuseflow.sim.options import EngineOptions; "
            "o = EngineOptions(queue_capacity=3, queue_grown=3, boundscheck=True); "
            "p = io.load(sys.argv[1]); "
            "r = [simulate(p, hw=h, engine_options=o).cycles for h in ('default', 'no-hbm')]; "
            "from fuseflow.sim.fast.stream.engine import STATS; "
            "from fuseflow.sim.fast import jit; assert jit.CHECKED; "
            "print(json.dumps([r, STATS['streamed']]))")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True,
                         check=True).stdout
    cycles, streamed = json.loads(out)
    prog = io.load(path)
    assert cycles == [simulate(prog, hw=h, engine="reference").cycles for h in ("default", "no-hbm")]
    assert streamed == 2


def _reversed_ids(prog):
    """The program with every kernel's node ids reversed: no stream goes from a lower id
    to a higher one any more."""
    import copy
    import dataclasses

    from fuseflow.ir.graph import PortRef

    prog = copy.deepcopy(prog)
    for k in prog.kernels:
        g = k.graph
        top = max(g.nodes)
        new = {top - n: dataclasses.replace(node, id=top - n) for n, node in g.nodes.items()}
        g.nodes = dict(sorted(new.items()))
        g.streams = [dataclasses.replace(s, src=PortRef(top - s.src.node, s.src.port),
                                         dst=PortRef(top - s.dst.node, s.dst.port)) for s in g.streams]
    return prog


@pytest.mark.parametrize("hw", ["default", "no-hbm"])
def test_kernels_out_of_id_order(hw):
    """Ids not in topological order: any topological order is exact without the memory
    model (the kernel streams); with two memory clients it is not, and the reference
    runner (not the whole-stream layers) runs the kernel."""
    from fuseflow.ir import examples as ex

    prog = _reversed_ids(ex.spmm_ikj(6, 5, 4))
    ref = simulate(prog, hw=hw, engine="reference", random_inputs=2, density=0.5)
    before = dict(stream.STATS)
    got = simulate(prog, hw=hw, engine="fast", random_inputs=2, density=0.5)
    assert (got.cycles, got.counters, got.per_primitive) == (ref.cycles, ref.counters, ref.per_primitive)
    for name, t in ref.outputs.items():
        assert np.asarray(t.to_dense()).tobytes() == np.asarray(got.outputs[name].to_dense()).tobytes()
    n = len(prog.kernels)
    if hw == "no-hbm":
        assert stream.STATS["streamed"] - before["streamed"] == n
    else:
        assert stream.STATS["reference"] - before["reference"] == n
        assert stream.STATS["not exact"] - before["not exact"] == n


@pytest.mark.parametrize("hw", ["default", "no-hbm"])
def test_crd_drop_and_hold_run_on_the_reference(hw, tmp_path, capsys):
    """CRD_DROP and CRD_HOLD are reference-only (Comal/tortilla imports have them, the
    compiler never emits them): such a kernel runs on the reference runner, with the figures
    of ``--engine reference``, and the reason is recorded."""
    import dataclasses

    from fuseflow.ir import io
    from fuseflow.ir.comal import complete_from_data_dir
    from fuseflow.ir.graph import NodeKind
    from fuseflow.sim.cli import _load_data_dir
    from fuseflow.sim.hw import load_hw
    from fuseflow.sim.kernel import KernelContext
    from test_comal_graphs import elementwise

    path, _ = elementwise(tmp_path, False, drop=True)
    prog = complete_from_data_dir(io.load(path), tmp_path)
    _load_data_dir(prog, tmp_path)
    ref = simulate(prog, hw=hw, engine="reference")
    before = dict(stream.STATS)
    got = simulate(prog, hw=hw, engine="fast", engine_options=EngineOptions(profile=True))
    assert "reference" in capsys.readouterr().err.split("crd_drop run on the reference")[0]
    n = len(prog.kernels)
    assert stream.STATS["reference"] - before["reference"] == n
    assert stream.STATS["not taken"] - before["not taken"] == n
    assert stream.STATS["streamed"] == before["streamed"]
    assert stream.WHY[-1] == f"{prog.kernels[-1].name}: crd_drop run on the reference"
    assert (got.cycles, got.counters, got.per_primitive) == (ref.cycles, ref.counters, ref.per_primitive)
    for name, t in ref.outputs.items():
        assert np.asarray(t.to_dense()).tobytes() == np.asarray(got.outputs[name].to_dense()).tobytes()
    kernel = prog.kernels[0]
    drop = next(x for x in kernel.graph.nodes.values() if x.kind is NodeKind.CRD_DROP)
    kernel.graph.nodes[drop.id] = dataclasses.replace(drop, kind=NodeKind.CRD_HOLD)
    assert not stream.supported(kernel, KernelContext(prog, {}, load_hw(hw)))
