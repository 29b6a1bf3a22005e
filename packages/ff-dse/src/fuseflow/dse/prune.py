"""Pruning: simulate only the configurations the cost model cannot rule out.

Configurations are compared within one workload (model, data set, model options).
Kept: the top-k by estimated score (FLOPs + w * bytes) and, optionally, every point
on the (FLOPs, bytes) Pareto front. Configs whose estimate failed are always kept.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from fuseflow.dse.config import Config
from fuseflow.dse.result import Estimate, Result


@dataclass(frozen=True)
class PrunePolicy:
    top_k: int | None = None  # per workload; None -> ceil(fraction * n)
    fraction: float = 0.25
    pareto: bool = True
    bytes_weight: float = 1.0


@dataclass(frozen=True)
class PruneReport:
    total: int
    kept: int
    pruned: int
    best_survived: bool | None  # None when the store holds no full sweep to compare with
    lost: tuple[str, ...] = ()  # labels of workloads whose true best was pruned

    def summary(self) -> str:
        s = f"pruning kept {self.kept} of {self.total} configurations ({self.pruned} simulations saved)"
        if self.best_survived is None:
            return s + "; no full sweep in the store to check the best survived"
        if self.best_survived:
            return s + "; the best configuration (from a full sweep) survived"
        return s + "; the best configuration was pruned for: " + ", ".join(self.lost)


def workload(cfg: Config) -> tuple[str, str | None, tuple[tuple[str, str], ...]]:
    return (cfg.model, cfg.dataset, cfg.options)


def pareto_front(points: list[tuple[str, float, float]]) -> set[str]:
    """Keys of the points no other point beats in both coordinates (minimizing)."""
    front: set[str] = set()
    for k, f, b in points:
        if not any((f2 <= f and b2 <= b) and (f2 < f or b2 < b) for _, f2, b2 in points):
            front.add(k)
    return front


def select(configs: list[Config], estimates: dict[str, Estimate | None], policy: PrunePolicy) -> set[str]:
    """Keys of the configurations to simulate."""
    by_wl: dict[tuple, list[Config]] = defaultdict(list)
    for c in configs:
        by_wl[workload(c)].append(c)
    kept: set[str] = set()
    for group in by_wl.values():
        scored = [(c.key(), estimates.get(c.key())) for c in group]
        kept |= {k for k, e in scored if e is None}
        known = [(k, e) for k, e in scored if e is not None]
        if not known:
            continue
        k = policy.top_k if policy.top_k is not None else max(1, math.ceil(policy.fraction * len(known)))
        ranked = sorted(known, key=lambda ke: (ke[1].score(policy.bytes_weight), ke[0]))
        kept |= {key for key, _ in ranked[:k]}
        if policy.pareto:
            kept |= pareto_front([(key, e.flops, e.bytes) for key, e in known])
    return kept


def report(configs: list[Config], kept: set[str], results: dict[str, Result]) -> PruneReport:
    """Bookkeeping; checks against the true best where every config of a workload has a result."""
    by_wl: dict[tuple, list[Config]] = defaultdict(list)
    for c in configs:
        by_wl[workload(c)].append(c)
    survived: bool | None = None
    lost = []
    for wl, group in by_wl.items():
        res = [results.get(c.key()) for c in group]
        if any(r is None for r in res):
            continue
        ok = [r for r in res if r is not None and r.ok and r.cycles is not None]
        if not ok:
            continue
        best = min(ok, key=lambda r: r.cycles or 0.0)
        good = best.key in kept
        survived = good if survived is None else (survived and good)
        if not good:
            lost.append(f"{wl[0]}/{wl[1] or '-'}")
    n = len(configs)
    return PruneReport(n, len(kept & {c.key() for c in configs}), n - len(kept & {c.key() for c in configs}),
                       survived, tuple(lost))
