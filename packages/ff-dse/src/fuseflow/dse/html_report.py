"""``report.html`` beside ``report.md``: one self-contained page a researcher can read (plots,
results, where the best configuration spends its cycles and bytes, the cost model's error,
and the paper's numbers only where our workload is the paper's)."""

from __future__ import annotations

import html
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fuseflow.dse.result import Result

#: re-simulate a workload's best configuration for the per-primitive breakdown only if it
#: took at most this long the first time (seconds)
BREAKDOWN_MAX_WALL = 30.0

STYLE = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.6em 0;font-size:13px}th,td{border:1px solid #ccc;padding:3px 7px;
text-align:right}th{background:#f3f3f3}td.l,th.l{text-align:left}img{max-width:100%;border:1px solid #eee}
.bar{background:#4a7bd0;height:10px;display:inline-block}.note{color:#666;font-size:13px}
.diff{color:#a33}"""


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]], left: int = 1) -> str:
    head = "".join(f'<th class="{"l" if i < left else ""}">{html.escape(str(h))}</th>' for i, h in enumerate(header))
    body = "".join("<tr>" + "".join(f'<td class="{"l" if i < left else ""}">{c if isinstance(c, _Raw) else html.escape(str(c))}</td>'
                                    for i, c in enumerate(r)) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class _Raw(str):
    """Table cell HTML that is already escaped."""


def _bar(frac: float) -> _Raw:
    return _Raw(f'<span class="bar" style="width:{max(1, int(160 * frac))}px"></span> {frac:.0%}')


def best_per_workload(results: list[Result]) -> dict[str, Result]:
    """The fewest-cycles ok result of each (model, data set, options) workload."""
    best: dict[str, Result] = {}
    for r in results:
        if not r.ok or not r.cycles:
            continue
        c = r.config
        key = f"{c.model} / {c.dataset or '-'}" + (f" / {','.join(f'{k}={v}' for k, v in c.options)}" if c.options else "")
        if key not in best or (r.cycles < (best[key].cycles or 0)):
            best[key] = r
    return best


def primitive_breakdown(r: Result) -> list[tuple[str, int, int, int]] | None:
    """(primitive kind, tokens, FLOPs, bytes) of ``r``'s configuration, re-simulated; None if too slow."""
    if r.wall_time > BREAKDOWN_MAX_WALL:
        return None
    from fuseflow.dse.evaluate import compile_config
    from fuseflow.sim import simulate

    try:
        res = simulate(compile_config(r.config), hw=r.config.hw)
    except Exception:  # noqa: BLE001 - e.g. a synthetic result: the page says it is unavailable
        return None
    acc: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for name, c in res.per_primitive.items():
        kind = re.sub(r"#\d+.*$", "", name.split("/", 1)[-1])
        a = acc[kind]
        a[0] += c.tokens
        a[1] += c.flops
        a[2] += c.bytes_moved()
    rows = [(k, v[0], v[1], v[2]) for k, v in acc.items()]
    return sorted(rows, key=lambda x: -x[1])


def write_html(out: Path, title: str, results: list[Result], table_header: Sequence[str],
               table_rows: list[list[str]], plots: list[Path], pareto: Path | None,
               errs: dict[str, tuple[float, float, int]], notes: str = "", breakdown: bool = True,
               baseline_rows: list[list[str]] | None = None) -> Path:
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>",
             f"<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1>",
             f"<p>{len(results)} results ({sum(r.ok for r in results)} ok, {sum(not r.ok for r in results)} "
             "not ok). Data: <a href='results.csv'>results.csv</a>, <a href='results.json'>results.json</a>, "
             "results.sqlite, <a href='report.md'>report.md</a>.</p>"]
    if plots:
        parts.append("<h2>Speedup over unfused, per workload</h2>")
        parts += [f"<p><img src='{html.escape(p.name)}' alt='{html.escape(p.stem)}'></p>" for p in plots]
    if pareto:
        parts.append("<h2>Cycles against bytes moved</h2><p class='note'>Each point is one configuration, "
                     "labelled by it; the line joins each model's non-dominated configurations.</p>"
                     f"<p><img src='{html.escape(pareto.name)}' alt='pareto'></p>")
    if baseline_rows:
        from fuseflow.dse.bench import BASELINE_HEADER

        parts.append("<h2>Against this machine</h2><p class='note'>Simulated time at the hardware file's "
                     "clock_ghz beside PyTorch on this machine (medians).</p>"
                     + _table(BASELINE_HEADER, baseline_rows, left=2))
    best = best_per_workload(results)
    if best:
        parts.append("<h2>Where the time goes: the best configuration of each workload</h2>")
        for wl, r in sorted(best.items()):
            total = float(r.cycles or 1)
            parts.append(f"<h3>{html.escape(wl)}: {html.escape(r.config.label())}, {r.cycles:.6g} cycles</h3>")
            if r.kernel_cycles:
                parts.append(_table(["kernel", "cycles", "share"],
                                    [[k, f"{c:.6g}", _bar(c / total)] for k, c in r.kernel_cycles]))
            prims = primitive_breakdown(r) if breakdown else None
            if prims:
                tok = sum(p[1] for p in prims) or 1
                parts.append(_table(["primitive", "tokens", "share of tokens", "FLOPs", "bytes"],
                                    [[k, t, _bar(t / tok), f, b] for k, t, f, b in prims]))
            elif breakdown:
                parts.append("<p class='note'>No per-primitive breakdown (the simulation took over "
                             f"{BREAKDOWN_MAX_WALL:g} s, or could not be rerun here); run <code>ff sim --json</code> "
                             f"on <code>{html.escape(r.config.compile_command())}</code>.</p>")
    parts.append("<h2>All results</h2>" + _table(table_header, table_rows, left=4))
    if errs:
        parts.append("<h2>Cost model error against the simulator</h2>" + _table(
            ["model", "FLOPs error", "bytes error", "configs"],
            [[m, f"{f:.1%}", f"{b:.1%}", n] for m, (f, b, n) in sorted(errs.items())]))
    if notes:
        parts.append("<h2>Notes</h2>" + "".join(f"<p>{html.escape(line.lstrip('- '))}</p>"
                                                for line in notes.splitlines() if line.strip()
                                                and not line.startswith("#")))
    parts.append("</body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts))
    return path
