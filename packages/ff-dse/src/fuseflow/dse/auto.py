"""Autoscheduler: the best configuration found within a budget of simulations.

Estimate-guided local search per workload: rank every configuration by the cost
model, simulate the best-ranked one, then repeatedly simulate the best-ranked
unsimulated neighbour (one knob changed) of the current best; when no neighbour is
left, jump to the best-ranked unsimulated configuration. After two or more
simulations the ranking is recalibrated: cycles ~ a * FLOPs + b * bytes (a, b >= 0).
Results already in the store are reused and do not count against the budget.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from fuseflow.dse.config import Config
from fuseflow.dse.evaluate import Estimator, Evaluator, estimate_config, evaluate, failure
from fuseflow.dse.executors import get_executor
from fuseflow.dse.result import Estimate, Result
from fuseflow.dse.store import Store
from fuseflow.dse.sweep import estimate_all


@dataclass(frozen=True)
class AutoResult:
    best: Result | None
    simulated: int  # simulations spent from the budget
    reused: int  # results taken from the store
    space: int

    def command(self) -> str:
        return self.best.config.compile_command() if self.best else ""


def _neighbours(a: Config, b: Config) -> bool:
    da, db = a.to_dict(), b.to_dict()
    return sum(da[k] != db[k] for k in da) == 1


def _calibrate(results: list[Result], ests: dict[str, Estimate | None]) -> tuple[float, float]:
    rows = [(ests[r.key], r.cycles) for r in results if r.ok and r.cycles and ests.get(r.key)]
    if len(rows) < 2:
        return 1.0, 1.0
    x = np.asarray([[e.flops, e.bytes] for e, _ in rows if e is not None], dtype=np.float64)
    y = np.asarray([float(c or 0) for e, c in rows if e is not None], dtype=np.float64)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    a, b = (max(float(c), 0.0) for c in coef)
    return (a, b) if a + b > 0 else (1.0, 1.0)


def _evaluate_one(evaluator: Evaluator, cfg: Config, executor: str, address: str | None) -> Result:
    """One evaluation: in this process for ``local`` (no pool start-up per step), else remote."""
    if executor == "local":
        try:
            return evaluator(cfg)
        except Exception as e:  # noqa: BLE001 - recorded as a failure
            return failure(cfg, e)
    oc = next(iter(get_executor(executor).map(evaluator, [cfg], workers=1, address=address)))
    return oc.value if not oc.error and isinstance(oc.value, Result) else failure(cfg, oc.error or "no result")


def autoschedule(
    configs: list[Config],
    store: Store,
    budget: int,
    *,
    evaluator: Evaluator = evaluate,
    estimator: Estimator = estimate_config,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    log: Callable[[Result], None] | None = None,
) -> AutoResult:
    configs = list({c.key(): c for c in configs}.values())
    ests, _ = estimate_all(configs, estimator, executor, workers, address)
    seen: dict[str, Result] = {}
    reused = 0
    for c in configs:
        r = store.get(c.key())
        if r is not None:
            seen[c.key()] = r
            reused += 1
    spent = 0
    a, b = 1.0, 1.0

    def score(c: Config) -> float:
        e = ests.get(c.key())
        return a * e.flops + b * e.bytes if e is not None else float("inf")

    while spent < budget:
        best = min((r for r in seen.values() if r.ok and r.cycles is not None),
                   key=lambda r: r.cycles or 0.0, default=None)
        pool = [c for c in configs if c.key() not in seen]
        if not pool:
            break
        near = [c for c in pool if best is not None and _neighbours(c, best.config)]
        nxt = min(near or pool, key=lambda c: (score(c), c.key()))
        r = _evaluate_one(evaluator, nxt, executor, address)
        store.put(r)
        seen[r.key] = r
        spent += 1
        if log:
            log(r)
        a, b = _calibrate(list(seen.values()), ests)
    best = min((r for r in seen.values() if r.ok and r.cycles is not None),
               key=lambda r: r.cycles or 0.0, default=None)
    return AutoResult(best, spent, reused, len(configs))
