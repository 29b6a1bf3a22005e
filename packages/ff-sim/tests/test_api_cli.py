"""simulate(), hardware files, bounded channels, deadlocks, trace, the ff sim command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fuseflow.ir import examples as ex
from fuseflow.ir.data import TensorData
from fuseflow.ir.errors import CheckError, SimulationError, UnknownNameError
from fuseflow.sim import load_hw, simulate
from typer.testing import CliRunner


def test_result_json_has_the_figures():
    res = simulate(ex.spmv(6, 6), random_inputs=1)
    d = res.to_json_dict()
    for key in ("cycles", "flops", "bytes_moved", "kernels", "check", "max_rel_error", "counters", "per_primitive"):
        assert key in d
    assert d["kernels"][0]["cycles"] == res.cycles
    assert res.bytes_moved == 4 * res.counters.words_moved()
    json.dumps(d)


def test_missing_input_names_the_tensor():
    with pytest.raises(SimulationError, match="'A'"):
        simulate(ex.spmv(4, 4))


def test_unknown_engine_and_preset():
    with pytest.raises(UnknownNameError):
        simulate(ex.spmv(), engine="nope", random_inputs=1)
    with pytest.raises(UnknownNameError):
        load_hw("nope")


def test_user_hw_file(tmp_path):
    f = tmp_path / "slow.toml"
    f.write_text('name = "slow"\n[memory]\nenabled = true\nlatency = 40\n[channels]\ndepth = 0\n')
    slow = simulate(ex.spmv(8, 8), hw=f, random_inputs=1)
    fast = simulate(ex.spmv(8, 8), random_inputs=1)
    assert slow.hw == "slow" and slow.cycles > fast.cycles


def test_bounded_channels_stall_and_deadlock():
    prog = ex.spmm_ikj(8, 8, 8)
    free = simulate(prog, hw="no-hbm", random_inputs=1, density=0.4)
    bounded = simulate(prog, hw="no-hbm", random_inputs=1, density=0.4, channel_depth=4)
    assert bounded.cycles >= free.cycles
    np.testing.assert_allclose(bounded.outputs["C"].to_dense(), free.outputs["C"].to_dense())
    with pytest.raises(SimulationError, match=r"deadlock at cycle \d+: .*waiting to write"):
        simulate(prog, hw="no-hbm", random_inputs=1, density=0.4, channel_depth=1)


def test_trace_file(tmp_path):
    path = tmp_path / "t.json"
    simulate(ex.softmax(), random_inputs=1, trace_path=path)
    events = json.loads(path.read_text())["traceEvents"]
    assert sum(e["ph"] == "X" for e in events) > 10


def test_check_failure_reports_coordinates():
    prog = ex.spmv(5, 5)
    rng = np.random.default_rng(0)
    prog.data = {"A": TensorData.from_dense(rng.random((5, 5), dtype=np.float32)),
                 "x": TensorData.from_dense(np.ones(5, np.float32))}
    prog.expected = {"y": TensorData.from_dense(np.zeros(5, np.float32))}
    res = simulate(prog, check=True)
    assert res.check == "fail" and res.first_mismatch["index"] == [0]


@pytest.fixture
def spmv_file(tmp_path):
    """A saved SpMV program with data (through fuseflow.ir.io)."""
    from fuseflow.ir import io

    prog = ex.spmv(6, 6)
    rng = np.random.default_rng(0)
    prog.data = {"A": TensorData.from_dense(rng.random((6, 6), dtype=np.float32)),
                 "x": TensorData.from_dense(np.ones(6, np.float32))}
    path = tmp_path / "spmv.ffir"
    io.save(prog, path)
    return prog, path


def test_cli_json(spmv_file, tmp_path):
    from fuseflow.ir.cli import build_app

    _, path = spmv_file
    app = build_app()
    r = CliRunner().invoke(app, ["sim", str(path), "--json", "--check"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.output)
    assert d["check"] == "pass" and d["cycles"] > 0
    r2 = CliRunner().invoke(app, ["sim", str(path), "--json", "--hw", "no-hbm"])
    assert json.loads(r2.output)["cycles"] < d["cycles"]
    r3 = CliRunner().invoke(app, ["sim", str(path), "--trace", str(tmp_path / "t.json")])
    assert r3.exit_code == 0 and (tmp_path / "t.json").exists()


def test_cli_check_mismatch_is_a_check_error(spmv_file, tmp_path):
    from fuseflow.ir import io
    from fuseflow.ir.cli import build_app

    prog, _ = spmv_file
    prog.expected = {"y": TensorData.from_dense(np.zeros(6, np.float32))}
    bad = tmp_path / "bad.ffir"
    io.save(prog, bad)
    r = CliRunner().invoke(build_app(), ["sim", str(bad), "--check"])
    assert isinstance(r.exception, CheckError) and "y differs" in str(r.exception)
