"""Kernel figures shared across a study's evaluations: a small GPT-3 at two blocks and two
fusions gives the same results with and without sharing, and the evaluations after the
first reuse dense kernels simulated by another evaluation (also across pool processes)."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from fuseflow.dse.config import Config
from fuseflow.dse.evaluate import evaluate_fast
from fuseflow.dse.result import Result
from fuseflow.dse.shared_figures import SharedFigures, sharing, simulator_digest
from fuseflow.dse.store import Store
from fuseflow.dse.sweep import run_sweep

OPTS = (("decoders", "2"), ("seq", "32"), ("d_model", "16"), ("heads", "2"))
CONFIGS = [Config("gpt3-bigbird", None, (*OPTS, ("block", str(b))), fusion=f, block=None)
           for b in (8, 16) for f in ("unfused", "partial")]


def _figures(r: Result) -> tuple[object, ...]:
    return (r.status, r.cycles, r.flops, r.bytes_moved, r.kernel_cycles, r.check)


def test_shared_figures_change_no_result_and_are_reused(tmp_path: Path) -> None:
    alone = [evaluate_fast(c) for c in CONFIGS]
    shared_ev = sharing(evaluate_fast, tmp_path)
    shared = [shared_ev(c) for c in CONFIGS]
    assert all(r.ok for r in alone + shared)
    assert [_figures(r) for r in shared] == [_figures(r) for r in alone]
    # the first evaluation reuses only its own second decoder; block 16 reuses block 8's dense kernels
    assert shared[0].reused_kernels == alone[0].reused_kernels
    assert shared[2].reused_kernels > alone[2].reused_kernels
    assert shared[3].reused_kernels > alone[3].reused_kernels
    assert (tmp_path / "kernel-figures" / simulator_digest()).is_dir()


def test_gcn_and_graphsage_share_kernels_without_changing_results(tmp_path: Path) -> None:
    """Both models have kernels of the same shapes on one graph (X W, bias, relu): shared,
    the second model reuses them, and every figure and check stays the same."""
    cfgs = [Config(m, "karate", (), fusion=f) for m in ("gcn", "graphsage") for f in ("unfused", "partial")]
    alone = [evaluate_fast(c) for c in cfgs]
    shared_ev = sharing(evaluate_fast, tmp_path)
    shared = [shared_ev(c) for c in cfgs]
    assert all(r.ok and r.check for r in alone + shared)
    assert [_figures(r) for r in shared] == [_figures(r) for r in alone]
    assert sum(r.reused_kernels for r in shared) > sum(r.reused_kernels for r in alone)


def test_shared_across_pool_workers(tmp_path: Path) -> None:
    with Store(tmp_path / "a.sqlite") as st:
        plain = run_sweep(CONFIGS, st, evaluator=evaluate_fast, workers=2, progress=False)
    with Store(tmp_path / "b.sqlite") as st:
        shared = run_sweep(CONFIGS, st, evaluator=sharing(evaluate_fast, tmp_path), workers=2, progress=False)
    by_key = {r.key: _figures(r) for r in plain.results}
    assert plain.failed == shared.failed == 0
    assert {r.key: _figures(r) for r in shared.results} == by_key
    assert sum(r.reused_kernels for r in shared.results) > sum(r.reused_kernels for r in plain.results)


def test_a_missed_kernel_makes_other_processes_wait(tmp_path: Path) -> None:
    first, second = SharedFigures(tmp_path), SharedFigures(tmp_path)
    assert first.get("k") is None  # missed: ``first`` simulates it and holds the key's lock
    got: list[object] = []
    waiter = threading.Thread(target=lambda: got.append(second.get("k")))
    waiter.start()
    time.sleep(0.3)
    assert waiter.is_alive() and not got  # waiting for the figures, not simulating them too
    first["k"] = {"cycles": 7}
    waiter.join(10)
    assert got == [{"cycles": 7}] and "k" in SharedFigures(tmp_path)


def test_a_failed_simulation_lets_the_others_go(tmp_path: Path) -> None:
    first, second = SharedFigures(tmp_path), SharedFigures(tmp_path)
    assert first.get("k") is None
    first.release()  # the simulation failed: nothing stored
    assert second.get("k") is None and second.held is not None  # now ``second`` simulates it
    second.release()
