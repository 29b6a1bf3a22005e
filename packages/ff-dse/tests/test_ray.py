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


def test_figure12_slice_on_ray_matches_the_local_executor(tmp_path: Path) -> None:
    """The Figure 12 study (fast mode, GCN and SAE slices, every fusion) split over a local Ray
    instance of 2 workers gives exactly the figures of the local process pool."""
    import ray
    from fuseflow.dse.sizes import figure12_workloads, select_workloads
    from fuseflow.dse.studies import workload_configs

    wls = select_workloads(figure12_workloads("fast"), ["gcn", "sae"], ["cora", "imagenet"])
    cfgs = workload_configs(wls)
    assert len(cfgs) == 6
    figures = {}
    try:
        for ex in ("local", "ray"):
            with Store(tmp_path / f"{ex}.sqlite") as st:
                s = run_sweep(cfgs, st, executor=ex, workers=2, progress=False)
                assert (s.evaluated, s.failed) == (6, 0)
                got = {c.key(): st.get(c.key()) for c in cfgs}
                figures[ex] = {k: (r.cycles, r.flops, r.bytes_moved, r.kernel_cycles, r.check)  # type: ignore[union-attr]  # all evaluated above
                               for k, r in got.items()}
    finally:
        ray.shutdown()
    assert figures["ray"] == figures["local"]
    assert all(f[0] and f[0] > 0 and f[4] for f in figures["local"].values())


def test_memory_hints_become_ray_memory_requests(tmp_path: Path) -> None:
    """Items whose hints do not fit on the node together run one after the other."""
    import time
    from dataclasses import dataclass

    import ray
    from fuseflow.dse.executors import ray_map

    @dataclass(frozen=True)
    class Job:
        name: str
        hint: int

        def memory_hint(self) -> int:
            return self.hint

    def spans(job: Job) -> tuple[float, float]:
        start = time.time()
        time.sleep(2.0)
        return start, time.time()

    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
        node = max(n["Resources"].get("memory", 0) for n in ray.nodes() if n.get("Alive"))
        jobs = [Job("big1", int(node * 0.6)), Job("big2", int(node * 0.6)), Job("huge", int(node * 5))]
        done = {o.item.name: o.value for o in ray_map(spans, jobs, workers=2)}
        assert sorted(done) == ["big1", "big2", "huge"]  # a hint above the node runs, alone
        for a, b in (("big1", "big2"), ("big1", "huge"), ("big2", "huge")):
            assert done[a][1] <= done[b][0] or done[b][1] <= done[a][0], f"{a} and {b} overlapped"
    finally:
        ray.shutdown()
