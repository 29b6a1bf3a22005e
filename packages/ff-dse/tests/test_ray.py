"""A tiny sweep on a local Ray instance (skipped when ray is not installed)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from fuseflow.dse import synthetic
from fuseflow.dse.config import Config
from fuseflow.dse.store import Store
from fuseflow.dse.sweep import run_sweep

pytestmark = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                reason="ray is not installed (pip install 'ff-dse[ray]')")


def test_ray_sweep_on_a_local_instance(tmp_path: Path) -> None:
    import ray

    cfgs = [Config("gcn", d, fusion=f) for d in ("karate", "tiny") for f in ("unfused", "partial", "full")]
    cfgs.append(Config("gcn", "karate", (("fail", "1"),)))
    try:
        with Store(tmp_path / "r.sqlite") as st:
            s = run_sweep(cfgs, st, evaluator=synthetic.evaluate, executor="ray", workers=2, progress=False)
            assert (s.evaluated, s.failed) == (7, 1)
            assert len(st.done_keys()) == 6
            stored = st.get(cfgs[0].key())
            assert stored is not None and stored.cycles == synthetic.evaluate(cfgs[0]).cycles
            assert "synthetic failure" in st.get(cfgs[-1].key()).error  # type: ignore[union-attr]
    finally:
        ray.shutdown()
