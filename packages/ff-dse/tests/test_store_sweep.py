from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from fuseflow.dse import synthetic
from fuseflow.dse.config import Config
from fuseflow.dse.prune import PrunePolicy, pareto_front, select
from fuseflow.dse.result import Estimate, Status
from fuseflow.dse.store import Store
from fuseflow.dse.sweep import run_sweep


def configs(n: int = 3, **opts: str) -> list[Config]:
    return [Config("gcn", f"ds{i}", tuple(opts.items()), fusion=f)
            for i in range(n) for f in ("unfused", "partial", "full")]


def test_store_is_wal_and_round_trips(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as st:
        r = synthetic.evaluate(configs(1)[0])
        st.put(r)
        assert st.get(r.key) == r
        assert st.done_keys() == {r.key}
    mode = sqlite3.connect(tmp_path / "r.sqlite").execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_failing_configuration_is_recorded_with_its_error(tmp_path: Path) -> None:
    good, bad = Config("gcn", "karate"), Config("gcn", "karate", (("fail", "1"),))
    with Store(tmp_path / "r.sqlite") as st:
        s = run_sweep([good, bad], st, evaluator=synthetic.evaluate, workers=2, progress=False)
        assert (s.evaluated, s.failed) == (2, 1)
        r = st.get(bad.key())
        assert r is not None and r.status is Status.FAILED
        assert "SimulationError" in r.error and "synthetic failure" in r.error
        assert st.count()["failed"] == 1
        # failures are kept by default, retried on request
        assert bad.key() in st.done_keys(include_failed=True)
        s2 = run_sweep([good, bad], st, evaluator=synthetic.evaluate, workers=1, progress=False)
        assert s2.evaluated == 0 and s2.skipped == 2
        s3 = run_sweep([good, bad], st, evaluator=synthetic.evaluate, workers=1, progress=False,
                       retry_failed=True)
        assert (s3.evaluated, s3.skipped) == (1, 1)


def test_executor_errors_become_failures(tmp_path: Path) -> None:
    with Store(tmp_path / "r.sqlite") as st:
        s = run_sweep([Config("gcn")], st, evaluator=str, workers=1, progress=False)  # type: ignore[arg-type]
        assert s.failed == 1 and "not a Result" in s.results[0].error


def test_killed_sweep_resumes_without_redoing_finished_configs(tmp_path: Path) -> None:
    db, log1, log2 = tmp_path / "r.sqlite", tmp_path / "run1.log", tmp_path / "run2.log"
    argv = [sys.executable, "-c", "from fuseflow.ir.cli import main; main()", "dse", "gcn",
            "--evaluator", "synthetic", "--store", str(db), "--workers", "2", "--no-progress", "--only-named",
            "-m", "delay=0.25", *[a for i in range(8) for a in ("-d", f"g{i}")]]
    total = 8 * 3
    env = dict(os.environ, FF_DSE_SYNTH_LOG=str(log1))
    proc = subprocess.Popen(argv, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 40
        n = 0
        while time.time() < deadline:
            if db.exists():
                try:
                    with Store(db) as st:
                        n = len(st.done_keys())
                except sqlite3.OperationalError:
                    n = 0
            if n >= 4:
                break
            time.sleep(0.05)
        assert n >= 4, "the sweep produced no results in time"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    with Store(db) as st:
        first = st.done_keys()
        stamps = {k: st.finished_at(k) for k in first}
    assert 4 <= len(first) < total
    env2 = dict(os.environ, FF_DSE_SYNTH_LOG=str(log2))
    subprocess.run(argv, env=env2, check=True, stdout=subprocess.DEVNULL, timeout=300)  # a loaded machine is slow
    redone = set(log2.read_text().split())
    assert not (redone & first), "finished configs were evaluated again"
    with Store(db) as st:
        assert len(st.done_keys()) == total
        assert all(st.finished_at(k) == t for k, t in stamps.items())


def test_pareto_front() -> None:
    pts = [("a", 1, 5), ("b", 2, 2), ("c", 3, 3), ("d", 5, 1), ("e", 1, 6)]
    assert pareto_front(pts) == {"a", "b", "d"}


def test_pruning_bookkeeping_and_best_survival(tmp_path: Path) -> None:
    cfgs = configs(2)
    with Store(tmp_path / "r.sqlite") as st:
        s = run_sweep(cfgs, st, evaluator=synthetic.evaluate, estimator=synthetic.estimate,
                      workers=2, progress=False, prune=PrunePolicy(top_k=1, pareto=False))
        assert (s.total, s.evaluated, s.pruned) == (6, 2, 4)
        assert s.prune is not None and (s.prune.kept, s.prune.pruned) == (2, 4)
        assert s.prune.best_survived is None  # no full sweep yet
        assert len(st.pruned()) == 4 and st.count()["pruned"] == 4
        # a full sweep, then prune again: the store can now tell whether the best survived
        full = run_sweep(cfgs, st, evaluator=synthetic.evaluate, workers=2, progress=False)
        assert full.evaluated == 4 and not st.pruned()
        again = run_sweep(cfgs, st, evaluator=synthetic.evaluate, estimator=synthetic.estimate,
                          workers=2, progress=False, prune=PrunePolicy(top_k=1, pareto=False))
        assert again.evaluated == 0 and again.prune is not None
        assert again.prune.best_survived is True  # synthetic cycles follow the estimate
        assert "survived" in again.prune.summary()


def test_select_keeps_unknown_estimates_and_compares_within_workloads() -> None:
    cfgs = configs(2)
    ests: dict[str, Estimate | None] = {c.key(): Estimate(10.0 if c.dataset == "ds0" else 1000.0, 1.0)
                                        for c in cfgs}
    ests[cfgs[0].key()] = None
    kept = select(cfgs, ests, PrunePolicy(top_k=1, pareto=False))
    assert cfgs[0].key() in kept
    assert {c.dataset for c in cfgs if c.key() in kept} == {"ds0", "ds1"}


def test_autoscheduler_finds_the_best_within_budget(tmp_path: Path) -> None:
    from fuseflow.dse.auto import autoschedule

    cfgs = [Config("gcn", "karate", fusion=f, block=b) for f in ("unfused", "partial", "full") for b in (None, 16)]
    with Store(tmp_path / "r.sqlite") as st:
        res = autoschedule(cfgs, st, 3, evaluator=synthetic.evaluate, estimator=synthetic.estimate, workers=1)
        assert res.simulated == 3 and res.best is not None
        truth = min((synthetic.evaluate(c) for c in cfgs), key=lambda r: r.cycles or 0)
        assert res.best.key == truth.key
        assert res.command().startswith("ff compile gcn --dataset karate --fusion partial")
        again = autoschedule(cfgs, st, 1, evaluator=synthetic.evaluate, estimator=synthetic.estimate, workers=1)
        assert again.reused == 3 and again.simulated == 1
