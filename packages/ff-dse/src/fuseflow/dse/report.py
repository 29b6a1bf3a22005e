"""Reports from a store: table, CSV, JSON, SQLite copy, PNG plots and report.md.

Speedups are over the ``unfused`` configuration of the same workload and knobs
(everything but ``fusion`` equal), like the paper's Figure 12.
"""

from __future__ import annotations

import csv
import json
import re
import sqlite3
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from fuseflow.dse.config import Config, format_par
from fuseflow.dse.costmodel import relative_error
from fuseflow.dse.result import Result
from fuseflow.dse.store import Store

COLUMNS = ("model", "dataset", "fusion", "order", "par", "block", "hw", "options", "status",
           "cycles", "speedup", "flops", "bytes_moved", "est_flops", "est_bytes", "check",
           "max_rel_error", "wall_time", "peak_rss_mib", "error", "key")


@dataclass(frozen=True)
class Row:
    result: Result
    speedup: float | None

    def as_dict(self) -> dict[str, object]:
        r, c = self.result, self.result.config
        d = r.to_dict()
        return {
            "model": c.model, "dataset": c.dataset or "", "fusion": c.fusion, "order": c.order or "",
            "par": format_par(c.par), "block": c.block or "", "hw": c.hw,
            "options": ",".join(f"{k}={v}" for k, v in c.options), "status": r.status.value,
            "cycles": r.cycles, "speedup": self.speedup, "flops": r.flops, "bytes_moved": r.bytes_moved,
            "est_flops": d["est_flops"], "est_bytes": d["est_bytes"], "check": r.check,
            "max_rel_error": r.max_rel_error, "wall_time": round(r.wall_time, 3),
            "peak_rss_mib": round(r.peak_rss / 2**20, 1) if r.peak_rss else None, "error": r.error,
            "key": r.key,
        }


def _baseline_key(r: Result) -> str:
    d = r.config.to_dict()
    d.pop("fusion")
    return json.dumps(d, sort_keys=True)


def rows(results: list[Result]) -> list[Row]:
    """Results with their speedup over the matching unfused run, sorted for display."""
    base = {_baseline_key(r): r.cycles for r in results
            if r.config.fusion == "unfused" and r.ok and r.cycles}
    out = []
    for r in results:
        b = base.get(_baseline_key(r))
        out.append(Row(r, b / r.cycles if (b and r.ok and r.cycles) else None))
    order = {"unfused": 0, "partial": 1, "full": 2}
    out.sort(key=lambda x: (x.result.config.model, x.result.config.dataset or "",
                            _baseline_key(x.result), order.get(x.result.config.fusion, 3), x.result.config.fusion))
    return out


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}g}"


TABLE_HEADER = ("model", "dataset", "fusion", "knobs", "cycles", "speedup vs unfused", "FLOPs", "bytes", "status")


def knobs_text(c: Config) -> str:
    """The knobs besides model, data set and fusion: ``order=.. par=.. block=.. hw=..`` or ``-``."""
    parts = [f"order={c.order}" if c.order else "", f"par={format_par(c.par)}" if c.par else "",
             f"block={c.block}" if c.block else "", f"hw={c.hw}" if c.hw != "default" else "",
             ",".join(f"{k}={v}" for k, v in c.options)]
    return " ".join(p for p in parts if p) or "-"


def table_text(rs: list[Row]) -> list[list[str]]:
    out = []
    for row in rs:
        r, c = row.result, row.result.config
        status = r.status.value if r.ok else f"{r.status.value}: {r.error[:60]}"
        out.append([c.model, c.dataset or "-", c.fusion, knobs_text(c), _fmt(r.cycles, 6), _fmt(row.speedup),
                    _fmt(r.flops, 6), _fmt(r.bytes_moved, 6), status])
    return out


def print_table(rs: list[Row], title: str = "results") -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=title)
    for col in TABLE_HEADER:
        t.add_column(col, justify="right" if col in ("cycles", "speedup vs unfused", "FLOPs", "bytes") else "left")
    for line in table_text(rs):
        t.add_row(*line)
    Console(width=160).print(t)


def cost_model_errors(results: list[Result]) -> dict[str, tuple[float, float, int]]:
    """Per model: mean relative error of estimated FLOPs and bytes vs the simulator, and n."""
    acc: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for r in results:
        if r.ok and r.estimate and r.flops and r.bytes_moved:
            acc[r.config.model].append((relative_error(r.estimate.flops, r.flops),
                                        relative_error(r.estimate.bytes, r.bytes_moved)))
    return {m: (sum(f for f, _ in v) / len(v), sum(b for _, b in v) / len(v), len(v)) for m, v in acc.items()}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "x"


def _x_label(r: Result, labels: dict[str, str]) -> str:
    c = r.config
    opts = dict(c.options)
    sizes = " ".join(f"{k}={opts[k]}" for k in ("seq", "d_model", "block", "batch", "hidden") if k in opts)
    base = labels.get(c.dataset or "", c.dataset or sizes or c.model)
    return base + (f" b{c.block}" if c.block and not base.startswith("block") else "")


def plot_speedups(rs: list[Row], out: Path, labels: dict[str, str] | None = None) -> list[Path]:
    """One grouped-bar PNG per model: speedup over unfused per data set and fusion config."""
    labels = labels or {}
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    by_model: dict[str, list[Row]] = defaultdict(list)
    for row in rs:
        if row.speedup is not None:
            by_model[row.result.config.model].append(row)
    for model, mrows in sorted(by_model.items()):
        datasets = list(dict.fromkeys(_x_label(r.result, labels) for r in mrows))
        fusions = list(dict.fromkeys(r.result.config.fusion for r in mrows))
        fig, ax = plt.subplots(figsize=(max(4.0, 1.6 * len(datasets) + 2), 3.2))
        width = 0.8 / max(1, len(fusions))
        for j, fu in enumerate(fusions):
            ys = []
            for ds in datasets:
                vals = [r.speedup for r in mrows if _x_label(r.result, labels) == ds
                        and r.result.config.fusion == fu and r.speedup is not None]
                ys.append(max(vals) if vals else 0.0)
            xs = [i + (j - (len(fusions) - 1) / 2) * width for i in range(len(datasets))]
            ax.bar(xs, ys, width, label=fu[:24])
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_xticks(range(len(datasets)))
        ax.set_xticklabels([d[:36] for d in datasets], rotation=15, fontsize=7, ha="right")
        ax.set_xlabel("workload (data set or model size)")
        ax.set_ylabel("speedup over unfused (x)")
        ax.set_title(f"{model}: speedup of each fusion over unfused", fontsize=10)
        ax.legend(fontsize=7, title="fusion", title_fontsize=7)
        fig.tight_layout()
        p = out / f"speedup_{_slug(model)}.png"
        fig.savefig(p, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(p)
    return paths


def plot_pareto(results: list[Result], out: Path, labels: dict[str, str] | None = None) -> Path | None:
    """Cycles against bytes moved, per model; non-dominated points outlined."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fuseflow.dse.prune import pareto_front

    ok = [r for r in results if r.ok and r.cycles and r.bytes_moved]
    if not ok:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    by_model: dict[str, list[Result]] = defaultdict(list)
    for r in ok:
        by_model[r.config.model].append(r)
    for model, rs in sorted(by_model.items()):
        front = pareto_front([(r.key, float(r.cycles or 0), float(r.bytes_moved or 0)) for r in rs])
        sc = ax.scatter([float(r.bytes_moved or 0) for r in rs], [float(r.cycles or 0) for r in rs],
                        label=model, alpha=0.7, s=22)
        fr = sorted((r for r in rs if r.key in front), key=lambda r: r.bytes_moved or 0)
        ax.step([float(r.bytes_moved or 0) for r in fr], [float(r.cycles or 0) for r in fr], where="post",
                color=sc.get_facecolor()[0], linewidth=1.2, label=f"{model} Pareto front")
        for r in (rs if len(ok) <= 15 else fr):  # past 15 points only the front is labelled
            ax.annotate(_point_label(r, labels or {}), (float(r.bytes_moved or 0), float(r.cycles or 0)), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("bytes moved (log)")
    ax.set_ylabel("cycles (log)")
    ax.set_title("cycles against bytes moved; lines: Pareto fronts", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    p = out / "pareto.png"
    fig.savefig(p, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return p


def _point_label(r: Result, labels: dict[str, str]) -> str:
    c = r.config
    knobs = [f"order={c.order}" if c.order else "", f"par={format_par(c.par)}" if c.par else "",
             f"b{c.block}" if c.block else ""]
    where = labels.get(c.dataset or "", (c.dataset or "")[:16])
    return " ".join(x for x in [c.model, where, c.fusion, *knobs] if x)[:44]


def _md_table(header: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in body]
    return "\n".join(lines)


def write_report(store: Store, out: str | Path, title: str = "FuseFlow DSE report",
                 extra_md: str = "", labels: dict[str, str] | None = None, breakdown: bool = True,
                 baseline: bool = False) -> Path:
    """Write results.{csv,json,sqlite}, PNG plots, report.md and report.html into ``out``;
    returns report.md. ``breakdown`` re-simulates each workload's best configuration (when it
    is quick) for the per-primitive table of report.html; ``baseline`` times each workload's
    PyTorch model on this machine beside its best simulated time (kept in the store)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    results = store.results()
    rs = rows(results)
    dicts = [r.as_dict() for r in rs]
    with open(out / "results.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(dicts)
    (out / "results.json").write_text(json.dumps(
        {"results": dicts, "pruned": [c.to_dict() | {"est_flops": e.flops, "est_bytes": e.bytes}
                                      for c, e in store.pruned()]}, indent=1))
    db = out / "results.sqlite"
    if db.resolve() != store.path.resolve():
        if db.exists():
            db.unlink()
        dst = sqlite3.connect(str(db))
        with dst:
            store._db.backup(dst)
        dst.close()
    plots = plot_speedups(rs, out, labels)
    pareto = plot_pareto(results, out, labels)
    errs = cost_model_errors(results)
    md = [f"# {title}", "", f"{len(results)} results ({sum(r.ok for r in results)} ok, "
          f"{sum(not r.ok for r in results)} failed), {len(store.pruned())} pruned. "
          "Data: [results.csv](results.csv), [results.json](results.json), results.sqlite.", ""]
    md += ["## Results", "", _md_table(
        list(TABLE_HEADER), table_text(rs)), ""]
    base_rows: list[list[str]] = []
    if baseline:
        from fuseflow.dse.bench import BASELINE_HEADER, baseline_table

        cache = store.meta("baselines", {}) or {}
        assert isinstance(cache, dict)
        base_rows = baseline_table(results, cache)
        store.set_meta("baselines", cache)
        md += ["## Against this machine", "", "Simulated time at the hardware file's clock_ghz beside "
               "PyTorch on this machine (medians).", "", _md_table(list(BASELINE_HEADER), base_rows), ""]
        with open(out / "baseline.csv", "w", newline="") as f:
            csv.writer(f).writerows([list(BASELINE_HEADER), *base_rows])
    if plots:
        md += ["## Speedup over unfused", ""] + [f"![{p.stem}]({p.name})" for p in plots] + [""]
    if pareto:
        md += ["## Cycles vs bytes moved", "", f"![pareto]({pareto.name})", ""]
    if errs:
        md += ["## Cost model error vs the simulator", "", _md_table(
            ["model", "FLOPs error", "bytes error", "configs"],
            [[m, f"{f:.1%}", f"{b:.1%}", str(n)] for m, (f, b, n) in sorted(errs.items())]), ""]
    if extra_md:
        md += [extra_md, ""]
    path = out / "report.md"
    path.write_text("\n".join(md))
    from fuseflow.dse.html_report import write_html

    write_html(out, title, results, TABLE_HEADER, table_text(rs), plots, pareto, errs, extra_md, breakdown,
               base_rows)
    return path
