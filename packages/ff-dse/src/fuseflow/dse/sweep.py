"""Run a sweep: skip what the store holds, optionally prune by estimate, evaluate the rest."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from fuseflow.dse.config import Config
from fuseflow.dse.evaluate import (
    Estimator,
    Evaluator,
    estimate_config,
    evaluate,
    failure,
    invalid,
    knob_problem,
)
from fuseflow.dse.executors import get_executor
from fuseflow.dse.progress import SweepProgress
from fuseflow.dse.prune import PrunePolicy, PruneReport, report, select
from fuseflow.dse.result import Estimate, Result, Status
from fuseflow.dse.store import Store


@dataclass
class SweepSummary:
    total: int = 0
    skipped: int = 0  # already in the store
    evaluated: int = 0
    failed: int = 0
    pruned: int = 0
    invalid: int = 0  # knobs that do not apply to the workload (recorded with the reason)
    shared: int = 0  # evaluated by another sweep on the same store while this one ran
    wall_time: float = 0.0
    prune: PruneReport | None = None
    results: list[Result] = field(default_factory=list)  # every result of the sweep's configs

    def best(self) -> Result | None:
        ok = [r for r in self.results if r.ok and r.cycles is not None]
        return min(ok, key=lambda r: r.cycles or 0.0) if ok else None

    def line(self) -> str:
        s = (f"{self.total} configurations: {self.evaluated} evaluated, {self.skipped} already done, "
             + (f"{self.shared} by another sweep, " if self.shared else "")
             + f"{self.pruned} pruned, {self.invalid} invalid, {self.failed} failed, in {self.wall_time:.1f} s")
        return s

    def invalid_causes(self) -> list[tuple[str, int]]:
        """Invalid configurations grouped by reason, most first."""
        return Counter(cause_of(r.error) for r in self.results if r.status is Status.INVALID).most_common()

    def failure_causes(self) -> list[tuple[str, int]]:
        """Failed results grouped by cause (the error text without its location), most first."""
        causes = Counter(cause_of(r.error) for r in self.results if not r.ok and r.status is not Status.INVALID)
        return causes.most_common()


def cause_of(error: str) -> str:
    """An error text without its source location and numbers, to group failures by."""
    import re

    text = error.split(" (at ", 1)[0]
    return re.sub(r"\d+(\.\d+)?", "N", text)[:160] or "unknown"


def estimate_all(configs: list[Config], estimator: Estimator, executor: str = "local",
                 workers: int | None = None, address: str | None = None
                 ) -> tuple[dict[str, Estimate | None], dict[str, str]]:
    """Estimates by key (None where the estimator failed; those configs are never pruned),
    and the configs whose knobs the compiler refused (KnobError), with the reason."""
    out: dict[str, Estimate | None] = {}
    invalid_knobs: dict[str, str] = {}
    run = get_executor(executor).map
    for oc in run(estimator, configs, workers=workers, address=address):
        if oc.error.startswith("KnobError: "):
            invalid_knobs[oc.item.key()] = oc.error.removeprefix("KnobError: ")
        out[oc.item.key()] = oc.value if not oc.error and isinstance(oc.value, Estimate) else None
    return out, invalid_knobs


def _claimed(configs: list[Config], store: Store, elsewhere: list[Config]) -> Iterator[Config]:
    """The configs this sweep claims in the store, lazily (as the executor takes them); those
    another live sweep holds go to ``elsewhere``."""
    for c in configs:
        if store.claim(c.key()):
            yield c
            continue
        r = store.get(c.key())
        if r is None or not r.ok:
            elsewhere.append(c)


def _wait_for_others(elsewhere: list[Config], store: Store, bar: SweepProgress, summary: SweepSummary,
                     poll: float = 2.0) -> list[Config]:
    """Wait until another sweep stores the configs it claimed; return those it abandoned."""
    waiting = {c.key(): c for c in elsewhere}
    while waiting:
        for k in [k for k in waiting if store.get(k) is not None]:
            r = store.get(k)
            bar.advance("finished" if r is not None and r.ok else "failed")
            summary.shared += 1
            del waiting[k]
        held = store.claimed_elsewhere(set(waiting))
        abandoned = [c for k, c in waiting.items() if k not in held and store.get(k) is None]
        if abandoned:
            return abandoned
        if waiting:
            time.sleep(poll)
    return []


def _progress_line(r: Result, done: int, total: int, elapsed: float) -> str:
    """One finished evaluation, with an ETA from the mean pace so far."""
    eta = elapsed / done * (total - done) if done else 0.0
    what = f"{r.cycles:.6g} cycles" if r.ok and r.cycles is not None else f"{r.status.value}: {r.error[:80]}"
    mem = f", peak {r.peak_rss / 2**30:.2f} GiB" if r.peak_rss else ""
    mem += f", {r.reused_kernels}/{len(r.kernel_cycles)} kernels reused" if r.reused_kernels else ""
    return (f"[{done}/{total}] {r.config.label()}: {what} ({r.wall_time:.1f} s{mem}); "
            f"ETA {eta / 60:.1f} min")


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
    retry_failed: bool = False,
    log: Callable[[str], None] | None = None,
) -> SweepSummary:
    """Evaluate ``configs`` into ``store``; configs already there are skipped (failed ones too,
    unless ``retry_failed``), each result is stored as it arrives. Configs are claimed in the
    store as they are dispatched, so two sweeps on one store share the work."""
    t0 = time.perf_counter()
    unique = list({c.key(): c for c in configs}.values())
    summary = SweepSummary(total=len(unique))
    done = store.done_keys(include_failed=not retry_failed)
    todo = [c for c in unique if c.key() not in done]
    summary.skipped = len(unique) - len(todo)
    for c in list(todo):  # knobs that cannot apply: recorded, never dispatched
        problem = knob_problem(c)
        if problem:
            store.put(invalid(c, problem))
            todo.remove(c)
            summary.invalid += 1
    invalid_before = store.invalid_keys()
    valid = [c for c in unique if c.key() not in invalid_before]
    kept = {c.key() for c in valid}
    if prune is not None and valid:
        ests, problems = estimate_all(valid, estimator, executor, workers, address)
        for c in todo:
            if c.key() in problems:  # the compiler refused its knobs while estimating
                store.put(invalid(c, problems[c.key()]))
                summary.invalid += 1
        todo = [c for c in todo if c.key() not in problems]
        kept = select([c for c in valid if c.key() not in problems], ests, prune)
        for c in todo:
            e = ests.get(c.key())
            if c.key() not in kept and e is not None:
                store.put_pruned(c, e, title)
    run_list = [c for c in todo if c.key() in kept]
    summary.pruned = len(todo) - len(run_list)
    with SweepProgress(len(unique), title, enabled=progress) as bar:
        bar.advance("finished", summary.skipped) if summary.skipped else None
        bar.advance("pruned", summary.pruned) if summary.pruned else None
        started, to_run, finished = time.perf_counter(), len(run_list), 0
        try:
            while run_list:
                elsewhere: list[Config] = []
                run = get_executor(executor).map
                for oc in run(evaluator, _claimed(run_list, store, elsewhere), workers=workers, address=address):
                    r = oc.value if not oc.error and isinstance(oc.value, Result) else failure(
                        oc.item, oc.error or f"evaluator returned {type(oc.value).__name__}, not a Result")
                    store.put(r)
                    if r.status is Status.INVALID:  # its knobs were refused while compiling: not simulated
                        summary.invalid += 1
                    else:
                        summary.evaluated += 1
                        summary.failed += 0 if r.ok else 1
                    bar.advance("finished" if r.ok else "pruned" if r.status is Status.INVALID else "failed")
                    if log is not None:
                        finished += 1
                        log(_progress_line(r, finished, to_run, time.perf_counter() - started))
                    if on_result:
                        on_result(r)
                run_list = _wait_for_others(elsewhere, store, bar, summary)
        finally:
            store.release({c.key() for c in unique})
    stored = {k: store.get(k) for k in (c.key() for c in unique)}
    summary.results = [r for r in stored.values() if r is not None]
    if prune is not None:
        summary.prune = report(unique, kept, {k: r for k, r in stored.items() if r is not None})
    summary.wall_time = time.perf_counter() - t0
    return summary
