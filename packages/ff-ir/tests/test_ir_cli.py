"""The ``ff ir`` commands and error reporting of the ``ff`` CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fuseflow.ir import io
from fuseflow.ir.cli import build_app, main

GOLDEN = Path(__file__).parent / "golden"
SPMV = GOLDEN / "spmv_csr.fftxt"


def _run(capsys, *args: str) -> tuple[int, str, str]:
    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_version(capsys):
    code, out, _ = _run(capsys, "--version")
    assert code == 0 and "ff-ir" in out


def test_show_prints_the_text_form(capsys):
    code, out, _ = _run(capsys, "ir", "show", str(SPMV))
    assert code == 0 and out == SPMV.read_text()


def test_validate_golden(capsys):
    code, out, _ = _run(capsys, "ir", "validate", str(SPMV))
    assert code == 0 and "ok (1 expressions, 1 kernels, 15 nodes)" in out


def test_convert_between_forms(capsys, tmp_path):
    binary, text, graph = tmp_path / "a.ffir", tmp_path / "b.fftxt", tmp_path / "c.tortilla"
    assert _run(capsys, "ir", "convert", str(SPMV), str(binary))[0] == 0
    assert _run(capsys, "ir", "convert", str(binary), str(text))[0] == 0
    assert text.read_text() == SPMV.read_text()
    assert _run(capsys, "ir", "convert", str(binary), str(graph))[0] == 0
    assert io.load(graph).kernels[0].graph == io.load(SPMV).kernels[0].graph
    assert _run(capsys, "ir", "convert", str(SPMV), str(tmp_path / "d.bin"), "--to", "binary")[0] == 0
    assert io.load(tmp_path / "d.bin") == io.load(SPMV)


def test_bad_files_give_one_short_error(capsys, tmp_path):
    junk = tmp_path / "junk.ffir"
    junk.write_bytes(os.urandom(3000))
    for args in (["ir", "validate", str(junk)], ["ir", "show", str(junk)],
                 ["ir", "validate", str(tmp_path / "missing.ffir")],
                 ["ir", "convert", str(SPMV), str(tmp_path / "x.unknown")]):
        code, out, err = _run(capsys, *args)
        assert code != 0, args
        assert len(err.strip().splitlines()) <= 3 and "Traceback" not in err + out
        assert err.startswith("error: ")


def test_invalid_program_fails_validation(capsys, tmp_path):
    bad = tmp_path / "bad.fftxt"
    bad.write_text(SPMV.read_text().replace("  stream 17 val 13.val -> 14.val\n", ""))
    code, _, err = _run(capsys, "ir", "validate", str(bad))
    assert code == 3
    assert "reduce#13 [j] sum: output port 'val' has no reader" in err
    assert "val_write#14 y: input port 'val' is not connected" in err
    assert len(err.strip().splitlines()) == 1


def test_cli_runner_on_build_app():
    result = CliRunner().invoke(build_app(), ["ir", "show", str(SPMV)])
    assert result.exit_code == 0 and result.output == SPMV.read_text()


def test_random_bytes_in_a_real_process(tmp_path):
    junk = tmp_path / "junk.ffir"
    junk.write_bytes(os.urandom(3000))
    proc = subprocess.run([sys.executable, "-c", "from fuseflow.ir.cli import main; main()",
                           "ir", "validate", str(junk)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 3
    assert "not a FuseFlow IR file" in proc.stderr


@pytest.mark.parametrize("form, suffix", [("binary", ".ffir"), ("text", ".fftxt")])
def test_data_sidecar_round_trip(tmp_path, spmv, form, suffix):
    import numpy as np

    from fuseflow.ir.data import TensorData

    spmv.data["x"] = TensorData.from_dense(np.arange(6, dtype=np.float32))
    spmv.data["A"] = TensorData.from_coo((4, 6), np.array([[0, 3], [1, 5]]), np.array([1.5, -2.0]))
    spmv.expected["y"] = TensorData((4,), dense=np.ones(4, dtype=np.float64))  # dtype kept
    path = tmp_path / f"p{suffix}"
    io.save(spmv, path, form=form)
    assert sorted(p.name for p in (tmp_path / f"p{suffix}.data").rglob("*.npz")) == ["A.npz", "x.npz", "y.npz"]
    back = io.load(path)
    assert back == spmv
    assert back.expected["y"].dense.dtype == np.float64
    # saving without data removes the stale files; a file without sidecar has no data
    spmv.data.clear()
    spmv.expected.clear()
    io.save(spmv, path, form=form)
    assert io.load(path).data == {} and io.load(path).expected == {}
