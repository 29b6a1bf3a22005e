"""``ff sim --data-dir``: inputs read from a SAM/Comal tensor data directory."""

from __future__ import annotations

import json
import subprocess

import numpy as np
from fuseflow.ir import io, samdata
from fuseflow.ir.examples import spmv
from fuseflow.sim import simulate
from fuseflow.sim.inputs import random_tensor, tensors_read


def test_sim_reads_inputs_from_a_sam_data_directory(tmp_path) -> None:
    prog = spmv(6, 5)
    rng = np.random.default_rng(3)
    data_dir = tmp_path / "sam"
    data_dir.mkdir()
    for name in tensors_read(prog):
        decl = prog.program.tensor(name)
        samdata.write_tensor(data_dir, name, random_tensor(decl, rng, 0.4), decl.format)
    path = tmp_path / "spmv.ffir"
    io.save(prog, path)
    out = subprocess.run(["ff", "sim", str(path), "--data-dir", str(data_dir), "--check", "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["cycles"] > 0 and got["check"] == "pass"
    # the same inputs given in memory give the same cycles
    for name in tensors_read(prog):
        prog.data[name] = samdata.read_tensor(data_dir, name, prog.program.tensor(name).format)
    assert simulate(prog).cycles == got["cycles"]
    bad = subprocess.run(["ff", "sim", str(path), "--data-dir", str(tmp_path / "missing")],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "not a directory" in bad.stderr and "Traceback" not in bad.stderr
