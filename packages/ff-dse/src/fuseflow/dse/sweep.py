"""Run a sweep: skip what the store holds, optionally prune by estimate, evaluate the rest."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from fuseflow.dse.config import Config
from fuseflow.dse.evaluate import Estimator, Evaluator, estimate_config, evaluate, failure
from fuseflow.dse.executors import get_executor
from fuseflow.dse.progress import SweepProgress
from fuseflow.dse.prune import PrunePolicy, PruneReport, report, select
from fuseflow.dse.result import Estimate, Result
from fuseflow.dse.store import Store


@dataclass
class SweepSummary:
    total: int = 0
    skipped: int = 0  # already in the store
    evaluated: int = 0
    failed: int = 0
    pruned: int = 0
    wall_time: float = 0.0
    prune: PruneReport | None = None
    results: list[Result] = field(default_factory=list)  # every result of the sweep's configs

    def best(self) -> Result | None:
        ok = [r for r in self.results if r.ok and r.cycles is not None]
        return min(ok, key=lambda r: r.cycles or 0.0) if ok else None

    def line(self) -> str:
        s = (f"{self.total} configurations: {self.evaluated} evaluated, {self.skipped} already done, "
             f"{self.pruned} pruned, {self.failed} failed, in {self.wall_time:.1f} s")
        return s


def estimate_all(configs: list[Config], estimator: Estimator, executor: str = "local",
                 workers: int | None = None, address: str | None = None) -> dict[str, Estimate | None]:
    """Estimates by key (None where the estimator failed; those configs are never pruned)."""
    out: dict[str, Estimate | None] = {}
    run = get_executor(executor).map
    for oc in run(estimator, configs, workers=workers, address=address):
        out[oc.item.key()] = oc.value if not oc.error and isinstance(oc.value, Estimate) else None
    return out


def run_sweep(
    configs: Iterable[Config],
    store: Store,
    *,
    evaluator: Evaluator = evaluate,
    estimator: Estimator = estimate_config,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    prune: PrunePolicy | None = None,
    progress: bool = True,
    title: str = "sweep",
    on_result: Callable[[Result], None] | None = None,
    retry_failed: bool = True,
) -> SweepSummary:
    """Evaluate ``configs`` into ``store``; configs already there are skipped (failed ones are
    retried unless ``retry_failed`` is false), each result is stored as it arrives."""
    t0 = time.perf_counter()
    unique = list({c.key(): c for c in configs}.values())
    summary = SweepSummary(total=len(unique))
    done = store.done_keys(include_failed=not retry_failed)
    todo = [c for c in unique if c.key() not in done]
    summary.skipped = len(unique) - len(todo)
    kept = {c.key() for c in unique}
    if prune is not None and unique:
        ests = estimate_all(unique, estimator, executor, workers, address)
        kept = select(unique, ests, prune)
        for c in todo:
            e = ests.get(c.key())
            if c.key() not in kept and e is not None:
                store.put_pruned(c, e, title)
    run_list = [c for c in todo if c.key() in kept]
    summary.pruned = len(todo) - len(run_list)
    with SweepProgress(len(unique), title, enabled=progress) as bar:
        bar.advance("finished", summary.skipped) if summary.skipped else None
        bar.advance("pruned", summary.pruned) if summary.pruned else None
        if run_list:
            run = get_executor(executor).map
            for oc in run(evaluator, run_list, workers=workers, address=address):
                r = oc.value if not oc.error and isinstance(oc.value, Result) else failure(
                    oc.item, oc.error or f"evaluator returned {type(oc.value).__name__}, not a Result")
                store.put(r)
                summary.evaluated += 1
                if not r.ok:
                    summary.failed += 1
                bar.advance("finished" if r.ok else "failed")
                if on_result:
                    on_result(r)
    stored = {k: store.get(k) for k in (c.key() for c in unique)}
    summary.results = [r for r in stored.values() if r is not None]
    if prune is not None:
        summary.prune = report(unique, kept, {k: r for k, r in stored.items() if r is not None})
    summary.wall_time = time.perf_counter() - t0
    return summary
