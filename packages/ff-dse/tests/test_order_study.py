"""`ff dse study figure17`: the paper's dataflow-order study on the artifact's (A B) C workload,
every order checked against numpy, the spread printed beside the paper's ~29x."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fuseflow.ir.cli import build_app, main
from typer.testing import CliRunner

runner = CliRunner()


def _ff(*args: str) -> tuple[int, str]:
    res = runner.invoke(build_app(), list(args))
    code = res.exit_code
    if isinstance(res.exception, SystemExit):
        code = int(res.exception.code or 0)
    return code, res.output


def test_figure17_prints_both_spreads_beside_the_paper_and_writes_json(tmp_path: Path):
    out = tmp_path / "f17.json"
    code, text = _ff("dse", "study", "figure17", "--artifact-c", "--json", str(out))
    assert code == 0, text
    line = next(x for x in text.splitlines() if x.startswith("the artifact's 15 orders"))
    assert "worst iklj" in line and "(paper ~29x)" in line
    assert 27.0 < float(line.split("spread ")[1].split("x")[0]) < 31.0  # measured 28.68x
    rows = json.loads(out.read_text())
    assert len(rows) == 24 and sum(r["artifact"] for r in rows) == 15
    assert all(r["check"] == "pass" for r in rows if r["cycles"] is not None)
    assert all(r["note"].startswith("not lowered") for r in rows if r["cycles"] is None)


def test_figure17_bad_hardware_is_a_clear_error(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exc:
        main(["dse", "study", "figure17", "--hw", "nonsense"])
    err = capsys.readouterr().err
    assert exc.value.code != 0 and "unknown hardware" in err and "Traceback" not in err
