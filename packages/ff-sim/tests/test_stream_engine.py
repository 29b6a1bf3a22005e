"""The fast engine's streaming path (fast/stream/): which kernels it takes, that its queues
stay small, and that a kernel it cannot finish reruns whole. Its exactness against the
reference engine is tested with every other fast-engine test (test_fast_engine.py runs
them streaming, streaming with 3-token queues, and whole-stream)."""

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


def test_an_irregular_kernel_reruns_whole(monkeypatch):
    """A step function that meets an input it does not take hands the kernel back: it
    reruns whole-stream, with the same figures."""
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
    from fuseflow.sim import examples as ex

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
