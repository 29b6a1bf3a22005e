from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from fuseflow.dse import synthetic
from fuseflow.dse.config import Config
from fuseflow.dse.report import rows, write_report
from fuseflow.dse.store import Store
from fuseflow.dse.sweep import run_sweep
from fuseflow.ir.cli import build_app
from typer.testing import CliRunner


def _filled_store(path: Path) -> Store:
    st = Store(path)
    cfgs = [Config(m, d, fusion=f) for m in ("gcn", "sae") for d in ("karate", "tiny")
            for f in ("unfused", "partial", "full")]
    cfgs.append(Config("gcn", "karate", (("fail", "1"),), fusion="full"))
    run_sweep(cfgs, st, evaluator=synthetic.evaluate, workers=2, progress=False)
    return st


def test_report_files_hold_the_numbers(tmp_path: Path) -> None:
    st = _filled_store(tmp_path / "s.sqlite")
    md = write_report(st, tmp_path / "rep")
    out = tmp_path / "rep"
    for name in ("results.csv", "results.json", "results.sqlite", "pareto.png", "speedup_gcn.png",
                 "speedup_sae.png", "report.md"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    recs = list(csv.DictReader(open(out / "results.csv")))
    assert len(recs) == 13
    r = st.get(Config("gcn", "karate", fusion="partial").key())
    assert r is not None
    rec = next(x for x in recs if x["key"] == r.key)
    assert float(rec["cycles"]) == pytest.approx(r.cycles)
    base = st.get(Config("gcn", "karate", fusion="unfused").key())
    assert float(rec["speedup"]) == pytest.approx(base.cycles / r.cycles)  # type: ignore[union-attr,operator]
    failed = [x for x in recs if x["status"] == "failed"]
    assert len(failed) == 1 and "synthetic failure" in failed[0]["error"]
    data = json.loads((out / "results.json").read_text())
    assert len(data["results"]) == 13
    text = md.read_text()
    assert "![pareto](pareto.png)" in text and "speedup_gcn.png" in text
    assert f"{r.cycles:.6g}" in text
    assert "Cost model error" in text
    assert Store(out / "results.sqlite").done_keys() == st.done_keys()


def test_rows_speedup_baseline_matches_all_other_knobs(tmp_path: Path) -> None:
    st = _filled_store(tmp_path / "s.sqlite")
    rs = rows(st.results())
    for row in rs:
        if row.result.ok and row.result.config.fusion == "unfused":
            assert row.speedup == pytest.approx(1.0)
    assert all(row.speedup is None for row in rs if not row.result.ok)


runner = CliRunner()


def test_ff_dse_model_shorthand_sweeps_and_reports(tmp_path: Path) -> None:
    app = build_app()
    db = tmp_path / "s.sqlite"
    res = runner.invoke(app, ["dse", "gcn", "-d", "karate", "--only-named", "--evaluator", "synthetic", "--store", str(db),
                              "--workers", "1", "--no-progress", "--out", str(tmp_path / "rep")])
    assert res.exit_code == 0, res.output
    assert "3 configurations: 3 evaluated" in res.output
    assert "reproduce with: ff compile gcn --dataset karate --fusion partial" in res.output
    assert (tmp_path / "rep" / "report.md").is_file()
    res = runner.invoke(app, ["dse", "run", "gcn", "-d", "karate", "--only-named", "--evaluator", "synthetic", "--store",
                              str(db), "--no-progress"])
    assert "3 already done" in res.output
    res = runner.invoke(app, ["dse", "report", str(db), "--out", str(tmp_path / "rep2")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "rep2" / "speedup_gcn.png").is_file()


def test_ff_dse_auto_and_prune(tmp_path: Path) -> None:
    app = build_app()
    res = runner.invoke(app, ["dse", "gcn", "-d", "karate", "--set", "fusion=unfused,partial,full", "--only-named",
                              "--evaluator", "synthetic", "--store", str(tmp_path / "a.sqlite"),
                              "--auto", "--budget", "2"])
    assert res.exit_code == 0, res.output
    assert "autoschedule: 2 simulations" in res.output and "reproduce with: ff compile gcn" in res.output
    res = runner.invoke(app, ["dse", "gcn", "-d", "karate", "-d", "cora", "--only-named", "--evaluator", "synthetic",
                              "--store", str(tmp_path / "p.sqlite"), "--prune", "--keep", "1",
                              "--no-progress", "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "simulations saved" in res.output


def test_ff_demo_with_synthetic_evaluator(tmp_path: Path) -> None:
    res = runner.invoke(build_app(), ["demo", "--evaluator", "synthetic", "--out", str(tmp_path / "demo"),
                                      "--workers", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    for m in ("gcn", "graphsage", "sae", "gpt3"):
        assert m in res.output
    assert "paper:" in res.output and "wall time" in res.output
    assert len(list((tmp_path / "demo").glob("*.png"))) >= 5


def test_ff_study_figure12_lists_paper_numbers(tmp_path: Path) -> None:
    res = runner.invoke(build_app(), ["dse", "study", "figure12", "--mode", "fast", "--evaluator", "synthetic",
                                      "--out", str(tmp_path / "f12"), "--workers", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "2.70x" in res.output and "3.90x" in res.output and "wall time" in res.output


def test_unknown_executor_names_the_ray_extra(tmp_path: Path) -> None:
    from fuseflow.dse.executors import get_executor
    from fuseflow.ir.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="local"):
        get_executor("slurm")
