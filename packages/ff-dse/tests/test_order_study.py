"""`ff dse study figure17`: the paper's dataflow-order study on the artifact's (A B) C workload,
every order checked against numpy, the spread printed beside the paper's ~29x."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from fuseflow.ir.cli import main

FF = Callable[..., tuple[int, str]]  # the ff_cli fixture (conftest.py)


def test_figure17_prints_both_spreads_beside_the_paper_and_writes_json(tmp_path: Path, ff_cli: FF) -> None:
    out = tmp_path / "f17.json"
    code, text = ff_cli("dse", "study", "figure17", "--artifact-c", "--json", str(out))
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
