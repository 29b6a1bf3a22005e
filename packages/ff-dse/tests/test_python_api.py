"""`fuseflow.compile` on a live module, as a notebook user runs it, and `ff bench`."""

from __future__ import annotations

import json
from pathlib import Path

import fuseflow
import pytest
import torch
from fuseflow.ir.cli import build_app
from fuseflow.ir.errors import DataError, FrontendError
from fuseflow.sim.hw import hw_from_dict
from typer.testing import CliRunner


class SparseLayer(torch.nn.Module):
    """relu(lin(A @ x)) over a sparse CSR adjacency held as a buffer."""

    def __init__(self, n: int = 30, f: int = 8, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        a = (torch.rand(n, n, generator=g) < 0.15).float()
        self.register_buffer("a", a.to_sparse_csr())
        self.lin = torch.nn.Linear(f, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.lin(self.a @ x))


def test_compile_simulate_and_check_a_live_module(tmp_path: Path) -> None:
    cm = fuseflow.compile(SparseLayer(), (torch.randn(30, 8),), fusion="partial")
    r = cm.simulate(check=True)
    assert r.cycles > 0 and r.check == "pass"
    assert "cycles" in str(cm) and "<table>" in cm._repr_html_()
    assert cm.to_dot().startswith("digraph")
    path = cm.save(tmp_path / "m.ffir")
    again = fuseflow.load(path).simulate(check=True)
    assert (again.cycles, again.flops, again.bytes_moved) == (r.cycles, r.flops, r.bytes_moved)


def test_fusions_and_par_change_the_design() -> None:
    mod, x = SparseLayer(), (torch.randn(30, 8),)
    cyc = {f: fuseflow.compile(mod, x, fusion=f).simulate(check=True).cycles for f in ("unfused", "full")}
    par = fuseflow.compile(mod, x, fusion="unfused", par={"*": 2}).simulate(check=True)
    assert par.check == "pass" and par.cycles < cyc["unfused"]


def test_formats_annotate_inputs_by_position_or_name() -> None:
    x = (torch.rand(30, 8) < 0.2).float()
    dense = fuseflow.compile(SparseLayer(), (x,))
    csr = fuseflow.compile(SparseLayer(), (x,), formats={"x": "CSR"})
    assert csr.simulate(check=True).check == "pass"
    assert csr.program.kernels[0].graph != dense.program.kernels[0].graph
    with pytest.raises(FrontendError, match="does not take"):
        fuseflow.compile(SparseLayer(), (x,), formats={"y": "CSR"})


def test_baseline_times_the_module_beside_the_simulated_time() -> None:
    cm = fuseflow.compile(SparseLayer(), (torch.randn(30, 8),))
    b = cm.baseline(compiled=False, repeats=3)
    eager = next(t for t in b.timings if t.name == "cpu eager")
    assert eager.median_s is not None and eager.median_s > 0
    assert b.simulated_s == pytest.approx(b.cycles / 1e9)
    assert b.ratio("cpu eager") == pytest.approx(eager.median_s / b.simulated_s)
    with pytest.raises(FrontendError, match="no PyTorch module"):
        fuseflow.CompiledProgram(cm.program).baseline()


def test_ff_bench_prints_baselines_and_ratio(tmp_path: Path) -> None:
    res = CliRunner().invoke(build_app(), ["bench", "gcn", "--dataset", "karate", "--no-compile", "--repeats", "3",
                                           "--out", str(tmp_path / "b.json")])
    assert res.exit_code == 0, res.output
    assert "cpu eager" in res.output and "ratio cpu eager / simulated" in res.output
    data = json.loads((tmp_path / "b.json").read_text())
    assert data["cycles"] > 0 and data["clock_ghz"] == 1.0
    assert data["timings"][0]["ratio_vs_simulated"] > 0


def test_hardware_file_values_are_validated() -> None:
    assert hw_from_dict({"clock_ghz": 2}).clock_ghz == 2.0
    for raw, msg in [({"memory": {"channels": -3}}, "channels = -3 must be >= 1"),
                     ({"channels": -3}, "must be a table"),
                     ({"bogus": {}}, "unknown section"),
                     ({"memory": {"val_write_blocking": True}}, r"unknown key \[memory\] val_write_blocking"),
                     ({"memory": {"latency": "2"}}, "is not an integer"),
                     ({"clock_ghz": 0}, "clock_ghz")]:
        with pytest.raises(DataError, match=msg):
            hw_from_dict(raw, "hw.toml")


def test_notebook_tour_runs_and_writes_the_html_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import runpy

    tour = runpy.run_path(str(Path(__file__).parents[3] / "docs" / "notebook_tour.py"))
    tour["main"](tmp_path / "tour")
    out = capsys.readouterr().out
    assert "over unfused" in out and "check pass" in out and "cpu eager" in out
    page = (tmp_path / "tour" / "report.html").read_text()
    assert "<img src='pareto.png'" in page and "Where the time goes" in page and "k0_mm" in page


def test_dse_report_html_has_breakdown_and_cost_model(tmp_path: Path) -> None:
    from fuseflow.dse.config import Config
    from fuseflow.dse.evaluate import evaluate
    from fuseflow.dse.report import write_report
    from fuseflow.dse.store import Store

    with Store(tmp_path / "s.sqlite") as st:
        for f in ("unfused", "partial"):
            st.put(evaluate(Config("gcn", "karate", fusion=f)))
        write_report(st, tmp_path / "rep", title="gcn on karate")
    page = (tmp_path / "rep" / "report.html").read_text()
    assert "speedup_gcn.png" in page and "share of tokens" in page and "Cost model error" in page


class SparseProduct(torch.nn.Module):
    """A CSR result of two CSR operands: its expected output is stored sparse."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        from fuseflow.frontend.annotation import annotate

        return annotate(annotate(a, "CSR") @ annotate(b, "CSR"), "CSR")


def test_engine_options_and_a_sparse_expected_output_through_the_api() -> None:
    from fuseflow.ir.errors import UsageError
    from fuseflow.sim.options import EngineOptions

    g = torch.Generator().manual_seed(1)
    a = (torch.rand(40, 40, generator=g) < 0.05).float() * torch.randn(40, 40, generator=g)
    b = (torch.rand(40, 40, generator=g) < 0.05).float() * torch.randn(40, 40, generator=g)
    cm = fuseflow.compile(SparseProduct(), (a, b))
    out = cm.program.program.outputs[0]
    want = cm.program.expected[out]
    assert want.dense is None and want.nnz() == int(torch.count_nonzero(a @ b))
    r = cm.simulate(check=True, engine_options=EngineOptions(threads=1, queue_capacity=5))
    assert r.check == "pass"
    assert cm.simulate(check=True, engine_options={"threads": 1}).cycles == r.cycles
    with pytest.raises(UsageError, match="--threads"):
        cm.simulate(engine_options={"threads": 100})
