"""Golden tests: SpMM + bias + ReLU compiled unfused (3 kernels) and fused (1 kernel).

Regenerate the checked-in files with ``FF_UPDATE_GOLDEN=1 pytest packages/ff-fusion/tests/test_golden.py``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from fuseflow.ir import io
from fusion_testlib import A, ProgramBuilder, TensorRole, UnaryOp, add, compile_prog, counts_of, mul, ssum, un

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("FF_UPDATE_GOLDEN") == "1"


def spmm_bias_relu(fusion: str):
    rng = np.random.default_rng(0)
    a = ((rng.random((6, 7)) < 0.3) * rng.standard_normal((6, 7))).astype(np.float32)
    x = rng.standard_normal((7, 5)).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    y = np.maximum(a @ x + b, 0)
    p = ProgramBuilder("spmm_bias_relu")
    p.inp("A", a, "CSR")
    p.inp("X", x)
    p.inp("b", b, role=TensorRole.PARAM)
    p.let("T0", "ij", (6, 5), ssum("k", mul(A("A", "ik"), A("X", "kj"))), group="g")
    p.let("T1", "ij", (6, 5), add(A("T0", "ij"), A("b", "j")), group="g")
    p.let("Y", "ij", (6, 5), un(UnaryOp.RELU, A("T1", "ij")), group="g")
    return p.build(["Y"], fusion, {"Y": y})


def _check_golden(path: Path, text: str) -> None:
    if UPDATE or not path.exists():
        if not UPDATE:
            pytest.fail(f"{path.name} is missing: run with FF_UPDATE_GOLDEN=1 to create it")
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} changed (FF_UPDATE_GOLDEN=1 to accept)"


@pytest.fixture(scope="module")
def compiled():
    return {f: compile_prog(spmm_bias_relu(f)) for f in ("unfused", "full")}


def test_kernel_counts(compiled):
    assert len(compiled["unfused"].program.kernels) == 3
    assert len(compiled["full"].program.kernels) == 1


def test_primitive_counts_golden(compiled):
    got = {
        "unfused": [counts_of(k.graph) for k in compiled["unfused"].program.kernels],
        "fused": counts_of(compiled["full"].program.kernels[0].graph),
    }
    _check_golden(GOLDEN / "spmm_bias_relu_counts.json", json.dumps(got, indent=2, sort_keys=True) + "\n")


def test_fused_text_golden(compiled):
    text = io.to_text(compiled["full"].program)
    _check_golden(GOLDEN / "spmm_bias_relu_fused.fftxt", text)
    # the text form round-trips
    assert io.to_text(io.from_text(text)) == text


def test_fused_kernel_shape(compiled):
    """Structure the golden encodes: one reduction, three ALUs (mul, add, relu), no
    intermediate writes, A scanned (dense row level, compressed column level) and the dense
    operands located or sharing a scan rather than joined."""
    k = compiled["full"].program.kernels[0]
    c = counts_of(k.graph)
    assert c["reduce"] == 1 and c["alu"] == 3
    assert c["val_write"] == 1 and k.outputs == ("Y",)
    # X is located inside the A-column loop; b's dense level is the same index range as
    # X's column level under the same parent, so b reads through that one scan
    assert c["locate"] == 1 and c["level_scan"] == 3
    assert "intersect" not in c and "union" not in c
    written = {n.attrs.tensor for n in k.graph.nodes.values() if n.kind.value in ("val_write", "level_write")}
    assert written == {"Y"}


@pytest.mark.parametrize("fusion", ["unfused", "full"])
def test_simulates_correctly(fusion, compiled):
    from fuseflow.sim import simulate

    r = simulate(compiled[fusion].program, hw="no-hbm", check=True)
    assert r.check == "pass"
