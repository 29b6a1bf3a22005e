"""Figure 12 study modes and slices: the paper's Table 2 at full size, filters by model and
data set, the full fusions the artifact skips, and per-evaluation wall time, memory and ETA."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuseflow.dse.config import Config
from fuseflow.dse.evaluate import evaluate
from fuseflow.dse.sizes import figure12_workloads, select_workloads
from fuseflow.dse.studies import workload_configs
from fuseflow.ir.cli import build_app
from typer.testing import CliRunner


def test_paper_mode_is_table_2_at_full_size() -> None:
    wls = figure12_workloads("paper")
    graphs = {w.label: w.dataset for w in wls if w.model == "gcn"}
    assert graphs == {n: n for n in ("cora", "cora_ml", "dblp", "collab", "mag")}  # stand-ins at published sizes
    assert {w.dataset for w in wls if w.model == "sae"} == {"imagenet", "nih-cxr", "luna16"}
    gpt = [dict(w.options) for w in wls if w.model == "gpt3-bigbird"]
    assert [g["block"] for g in gpt] == ["16", "32", "64"]
    assert all((g["decoders"], g["seq"], g["d_model"], g["heads"]) == ("12", "1024", "768", "12") for g in gpt)


def test_full_fusion_skipped_where_the_artifact_skips_it() -> None:
    wls = figure12_workloads("paper")
    fusions = {(c.model, c.dataset): set() for c in workload_configs(wls)}
    for c in workload_configs(wls):
        fusions[(c.model, c.dataset)].add(c.fusion)
    assert "full" not in fusions[("gcn", "mag")] | fusions[("graphsage", "collab")] | fusions[("graphsage", "mag")]
    assert "full" in fusions[("gcn", "collab")]
    assert len(workload_configs(wls, all_fusions=True)) == 3 * len(wls)


@pytest.mark.parametrize("mode", ["fast", "medium", "paper"])
def test_slices_by_model_and_data_set(mode: str) -> None:
    wls = figure12_workloads(mode)
    gc = select_workloads(wls, ["gcn"], ["collab"])
    assert [(w.model, w.label) for w in gc] == [("gcn", "collab")]
    assert {w.model for w in select_workloads(wls, ["gpt3"])} == {"gpt3-bigbird"}
    assert select_workloads(wls) == wls


def test_results_record_wall_time_and_peak_memory() -> None:
    r = evaluate(Config("gcn", "karate", fusion="partial"))
    assert r.ok and r.wall_time > 0
    assert r.peak_rss is not None and r.peak_rss > 10 * 2**20


def test_study_slice_prints_progress_with_eta(tmp_path: Path) -> None:
    res = CliRunner().invoke(build_app(), ["dse", "study", "figure12", "--mode", "fast", "--models", "gcn",
                                           "--datasets", "cora", "--out", str(tmp_path / "f"), "--no-progress",
                                           "--workers", "1"])
    assert res.exit_code == 0, res.output
    assert "[3/3]" in res.output and "ETA" in res.output and "peak" in res.output
    res = CliRunner().invoke(build_app(), ["dse", "study", "figure12", "--models", "nosuch", "--out",
                                           str(tmp_path / "g")])
    assert res.exit_code != 0


def test_paper_study_hints_order_the_longest_first_and_keep_big_memory_apart() -> None:
    """Measured at paper size: GraphSAGE/dblp full (3.05e10 cycles on cora_ml, 16x GCN) is the
    longest evaluation, GCN/collab full next; the mag evaluations may not run two at a time."""
    cfgs = workload_configs(figure12_workloads("paper"))
    longest = sorted(cfgs, key=lambda c: -c.work_hint())
    assert [c.label() for c in longest[:2]] == ["graphsage/dblp/full", "gcn/collab/full"]
    assert longest[-1].dataset == "cora" and longest[-1].fusion != "full"
    mag = [c for c in cfgs if c.dataset == "mag"]
    budget = 24 * 2**30 - 2**30
    assert len(mag) == 4 and all(2 * c.memory_hint() > budget for c in mag)
    assert all(c.work_hint() == 0 and c.memory_hint() == 0 for c in workload_configs(figure12_workloads("fast"))
               if c.model in ("gcn", "graphsage"))  # scaled random graphs: unknown, study order kept
