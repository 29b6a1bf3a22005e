"""Generated protobuf code: importable in the namespace package and up to date."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def test_generated_modules_import():
    from fuseflow.ir._proto import fuseflow_ir_pb2, tortilla_pb2

    assert fuseflow_ir_pb2.DESCRIPTOR.package == "fuseflow.ir.v1"
    assert tortilla_pb2.DESCRIPTOR.package == "tortilla"


def test_tortilla_field_numbers_follow_the_reference():
    from fuseflow.ir._proto import tortilla_pb2 as tp

    assert {f.name: f.number for f in tp.ComalGraph.DESCRIPTOR.fields} == {
        "name": 1, "channel_size": 2, "graph": 3}
    ops = {f.name: f.number for f in tp.Operation.DESCRIPTOR.oneofs_by_name["op"].fields}
    assert ops == {"root": 11, "joiner": 12, "fiber_lookup": 13, "fiber_write": 14, "repeat": 15,
                   "repeatsig": 16, "alu": 17, "reduce": 18, "coord_hold": 19, "coord_mask": 20,
                   "coord_drop": 21, "array": 22, "spacc": 23, "val_write": 24, "func": 25,
                   "broadcast": 26, "fork": 27, "join": 28, "gen_ref": 29, "locate": 30}


@pytest.mark.skipif(importlib.util.find_spec("grpc_tools") is None, reason="grpcio-tools not installed")
def test_generated_code_is_fresh():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "gen_proto.py"), "--check"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
