"""Studies built from sweeps: ``ff demo`` and the paper's Figure 12."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from fuseflow.dse.config import Config
from fuseflow.dse.report import Row
from fuseflow.dse.sizes import FUSIONS, PAPER_SPEEDUPS, Workload


def workload_configs(workloads: Iterable[Workload], fusions: Iterable[str] = FUSIONS,
                     hw: str = "default", all_fusions: bool = False) -> list[Config]:
    """Each workload at each fusion (full left out where the workload says so, unless
    ``all_fusions``)."""
    return [Config(model=w.model, dataset=w.dataset, options=w.options, fusion=f, block=w.block, hw=hw)
            for w in workloads for f in fusions if all_fusions or not (w.skip_full and f == "full")]


def dataset_labels(workloads: Iterable[Workload]) -> dict[str, str]:
    return {w.dataset: w.label for w in workloads if w.dataset and w.label}


def family(model: str) -> str:
    return "gpt3-bigbird" if model.startswith("gpt3") else model


def speedup_summary(rows: list[Row]) -> list[str]:
    """Per model: best measured speedup per fusion config beside the paper's headline numbers."""
    best: dict[str, dict[str, float]] = defaultdict(dict)
    for r in rows:
        if r.speedup is None:
            continue
        m, f = family(r.result.config.model), r.result.config.fusion
        best[m][f] = max(best[m].get(f, 0.0), r.speedup)
    lines = []
    models = list(dict.fromkeys([*PAPER_SPEEDUPS, *best]))
    for m in models:
        measured = ", ".join(f"{f} {s:.2f}x" for f, s in sorted(best.get(m, {}).items())) or "no results"
        paper = "; ".join(f"{f} {v if isinstance(v, str) else f'{v:.2f}x'}" + (f" ({w})" if w else "")
                          for f, v, w in PAPER_SPEEDUPS.get(m, []))
        lines.append(f"{m}: measured best speedup over unfused: {measured} | paper: {paper or '-'}")
    return lines
