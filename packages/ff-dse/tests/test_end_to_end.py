"""The real pipeline (compile_model + simulate): runs only once ff-fusion's API exists."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuseflow.dse.config import Config
from fuseflow.dse.store import Store
from fuseflow.dse.sweep import run_sweep

api = pytest.importorskip("fuseflow.fusion.api", reason="fuseflow.fusion.api is not there yet")
if not hasattr(api, "compile_model"):
    pytest.skip("fuseflow.fusion.api.compile_model is not there yet", allow_module_level=True)
pytest.importorskip("fuseflow.frontend.api", reason="fuseflow.frontend.api (used by compile_model) is not there yet")
if not hasattr(pytest.importorskip("fuseflow.sim"), "simulate"):
    pytest.skip("fuseflow.sim.simulate is not there yet", allow_module_level=True)


@pytest.mark.slow
def test_gcn_karate_fusion_sweep_end_to_end(tmp_path: Path) -> None:
    from fuseflow.dse.evaluate import estimate_config, evaluate
    from fuseflow.dse.report import write_report

    cfgs = [Config("gcn", "karate", fusion=f) for f in ("unfused", "partial")]
    r = evaluate(cfgs[0])
    assert r.ok, r.error
    assert r.cycles and r.flops and r.bytes_moved and r.check is True
    assert r.estimate is not None and r.estimate.flops > 0  # cost model computed on the real program
    assert estimate_config(cfgs[1]).flops > 0
    with Store(tmp_path / "r.sqlite") as st:
        st.put(r)
        s = run_sweep(cfgs, st, workers=1, progress=False)  # the unfused result is reused
        assert (s.skipped, s.evaluated, s.failed) == (1, 1, 0), [x.error for x in s.results if not x.ok]
        assert all(x.check for x in s.results)
        md = write_report(st, tmp_path / "rep")
        assert "Cost model error" in md.read_text()


def test_fast_evaluator_gives_the_reference_figures() -> None:
    from fuseflow.dse.evaluate import evaluate, evaluate_fast, resolve

    assert resolve("fast", evaluate) is evaluate_fast
    cfg = Config("gcn", "karate", fusion="partial")
    ref, fast = evaluate(cfg), evaluate_fast(cfg)
    assert ref.ok and fast.ok and fast.check is True
    assert (fast.cycles, fast.flops, fast.bytes_moved) == (ref.cycles, ref.flops, ref.bytes_moved)
