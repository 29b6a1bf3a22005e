"""`ff compile`, `ff sim`, `ff show` end to end through subprocesses."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest

FF = [shutil.which("ff")] if shutil.which("ff") else [sys.executable, "-m", "fuseflow.ir.cli"]


def ff(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    p = subprocess.run([*FF, *args], capture_output=True, text=True, timeout=300)
    if ok:
        assert p.returncode == 0, p.stdout + p.stderr
    return p


@pytest.fixture(scope="module")
def gcn_partial(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "gcn.ffir"
    p = ff("compile", "gcn", "--dataset", "karate", "--fusion", "partial", "-o", str(out), "--report")
    return out, p.stdout


def test_compile_report_and_output(gcn_partial):
    out, text = gcn_partial
    assert out.exists()
    assert "wrote" in text and "(2 kernels)" in text
    assert text.count("group ") == 2
    for key in ("expressions:", "order:", "valid orders", "primitives:", "materialized views:", "recomputed:",
                "merge-equivalent", "dedup-joiner-inputs", "pass dead-nodes"):
        assert key in text, key


def test_sim_check_json(gcn_partial):
    out, _ = gcn_partial
    d = json.loads(ff("sim", str(out), "--check", "--json", "--hw", "no-hbm").stdout)
    assert d["check"] == "pass" and d["cycles"] > 0


def test_compile_order_list():
    p = ff("compile", "gcn", "--dataset", "karate", "--fusion", "full", "--order", "list", "--limit", "3")
    lines = p.stdout.splitlines()
    head = [ln for ln in lines if ln.startswith("group ")]
    assert len(head) == 1 and "valid orders over" in head[0]
    assert int(head[0].split(": ")[1].split()[0]) > 1
    assert [ln.split(":")[0].strip() for ln in lines if ln.startswith("  ")] == ["0", "1", "2"]


def test_show_dot(gcn_partial):
    out, _ = gcn_partial
    text = ff("show", str(out), "--format", "dot").stdout
    assert text.count("digraph") == 2
    assert "->" in text


def test_bad_par_is_a_clean_error():
    from fuseflow.fusion.builtin import _par
    from fuseflow.ir.errors import UsageError

    assert _par(["i:4", "j:2"]) == [("i", 4), ("j", 2)]
    with pytest.raises(UsageError, match="INDEX:FACTOR"):
        _par(["i:0"])
