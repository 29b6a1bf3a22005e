"""Comal's golden timing vectors (reference/comal-timing-vectors.json), one test each.

Stamps must match exactly. Where Comal is wrong (an expected panic, or a documented
quirk), the test states the correct result FuseFlow computes instead.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from fuseflow.ir.data import Level, StoredTensor
from fuseflow.ir.formats import LevelFormat, TensorFormat
from fuseflow.ir.graph import Node, NodeKind, StreamKind
from fuseflow.ir.program import BinaryOp, ReduceOp, UnaryOp
from fuseflow.ir.tokens import Stop, parse_token
from sim_testlib import run_node, run_nodes

VECTORS = Path(os.environ.get("FF_COMAL_VECTORS", "/work/shared/reference/comal-timing-vectors.json"))
CASES = json.loads(VECTORS.read_text()) if VECTORS.exists() else []

PORTS = {  # Comal port name -> ours, per primitive family
    "in_ref": "ref", "in_crd": "crd", "out_ref": "ref", "out_crd": "crd", "in_val": "val", "out_val": "val",
    "in_crd0": "crd0", "in_crd1": "crd1", "in_ref0": "ref0", "in_ref1": "ref1",
    "out_ref0": "ref0", "out_ref1": "ref1", "in_val0": "a", "in_val1": "b",
    "in_crd_outer": "crd_outer", "in_crd_inner": "crd_inner", "out_crd_inner": "crd",
    "out_ref1_locate": "located", "out_ref2_locate": "ref",
    "in": "in", "out0": "out0", "out1": "out1",
}
DROP_HOLD = {"in_crd_outer": "outer", "in_crd_inner": "inner", "out_crd_outer": "outer", "out_crd_inner": "inner"}

# Correct results where Comal panics or has a quirk (docs/simulator.md, "Deviations").
CORRECTED = {
    "union_3": {"crd": "0@5 2@6 S0@7 0@8 S0@9 1@10 3@11 S1@12 D@13",
                "ref0": "0@5 1@6 S0@7 N@8 S0@9 2@10 3@11 S1@12 D@13",
                "ref1": "N@5 N@6 S0@7 0@8 S0@9 N@10 1@11 S1@12 D@13", "clock": 12},
    "alu_binary_5": {"val": "N@2 D@3", "clock": 2},
    "reduce_max_1": {"val": "-2@4 -3@7 S0@7 D@8", "clock": 7},
    "crd_drop_1": {"inner": "1@3 S1@7 D@9", "outer": "0@4 S0@8 D@9", "clock": 8},
}
WRITTEN = {"fiber_write_2": {"written_seg": [0, 0, 1, 1, 2]}, "val_write_1": {"written_vals": [1, 2, 0, 3]}}


def _tok(s: str):
    return parse_token(s)


def _stream(pairs):
    return [(_tok(t), int(st)) for t, st in pairs]


def _parse_expect(text: str):
    out = []
    for item in text.split():
        t, st = item.split("@")
        out.append((_tok(t), int(st)))
    return out


def _eq(a, b) -> bool:
    if isinstance(a, (Stop,)) or isinstance(b, Stop):
        return a == b
    if isinstance(a, (int, float, np.floating, np.integer)) and isinstance(b, (int, float, np.floating, np.integer)):
        return bool(np.isclose(float(a), float(b), rtol=1e-6, atol=1e-7))
    return a is b or a == b


def _assert_stream(got, want, what):
    assert len(got) == len(want), f"{what}: {got} != {want}"
    for (gt, gs), (wt, ws) in zip(got, want, strict=True):
        assert _eq(gt, wt) and gs == ws, f"{what}: got {got}, want {want}"


def _level_tensor(case) -> dict[str, StoredTensor]:
    d = case["data"]
    if "seg" in d:
        lv = Level(LevelFormat.COMPRESSED, max(d["crd"]) + 1, seg=np.array(d["seg"]), crd=np.array(d["crd"]))
    else:
        dim = case["config"]["dim"]
        lv = Level(LevelFormat.DENSE, dim)
    fmt = TensorFormat((lv.format,))
    return {"T": StoredTensor(fmt, (lv.dim,), [lv], np.zeros(1, dtype=np.float32))}


def _run(case):
    prim = case["primitive"]
    ins = {k: _stream(v) for k, v in case["inputs"].items()}
    if prim == "repeat":
        sig = Node(0, NodeKind.REPEAT_SIG)
        rep = Node(1, NodeKind.REPEAT)
        r = run_nodes([(sig, {"crd": ins["rep_ref"]}), (rep, {"in": ins["in_ref"]})],
                      links=[(0, "repsig", 1, "repsig")], kinds={(0, "crd"): StreamKind.REF})
        return r, {"out_ref": "1.out", "repsig": "0.repsig"}
    ports = DROP_HOLD if prim in ("crd_drop", "crd_hold") else PORTS
    if prim == "alu_unary":
        ports = dict(PORTS, in_val="a")
    mapped = {ports[k]: v for k, v in ins.items()}
    kw: dict = {}
    stored = None
    kind = {
        "root": NodeKind.ROOT, "fiber_lookup_compressed": NodeKind.LEVEL_SCAN,
        "fiber_lookup_uncompressed": NodeKind.LEVEL_SCAN, "intersect": NodeKind.INTERSECT,
        "union": NodeKind.UNION, "array": NodeKind.VAL_ARRAY, "alu_binary": NodeKind.ALU,
        "alu_unary": NodeKind.ALU, "reduce": NodeKind.REDUCE, "reduce_max": NodeKind.REDUCE,
        "spacc1": NodeKind.SPACC1, "fiber_write": NodeKind.LEVEL_WRITE, "val_write": NodeKind.VAL_WRITE,
        "broadcast": NodeKind.BROADCAST, "locate": NodeKind.LOCATE, "crd_drop": NodeKind.CRD_DROP,
        "crd_hold": NodeKind.CRD_HOLD,
    }[prim]
    cfg = case["config"]
    if kind is NodeKind.LEVEL_SCAN:
        stored = _level_tensor(case)
        kw = dict(tensor="T", level=0, index="i")
    elif kind in (NodeKind.INTERSECT, NodeKind.UNION):
        kw = dict(arity=cfg["inputs"], index="i")
    elif kind is NodeKind.VAL_ARRAY:
        vals = np.array(case["data"]["vals"], dtype=np.float32)
        lv = Level(LevelFormat.DENSE, len(vals))
        stored = {"T": StoredTensor(TensorFormat((LevelFormat.DENSE,)), (len(vals),), [lv], vals)}
        kw = dict(tensor="T")
    elif prim == "alu_binary":
        kw = dict(arity=2, op={"ADD": BinaryOp.ADD, "MUL": BinaryOp.MUL}[cfg["op"]])
    elif prim == "alu_unary":
        kw = dict(arity=1, op=UnaryOp.EXP) if cfg["op"] == "EXP" else dict(arity=1, op=UnaryOp.SCALAR_MAX,
                                                                           scalar=cfg.get("scalar", 0.0))
    elif prim in ("reduce", "reduce_max"):
        kw = dict(op=ReduceOp.MAX if prim == "reduce_max" else ReduceOp.SUM)
    elif kind is NodeKind.SPACC1:
        kw = dict(index="j")
    elif kind in (NodeKind.LEVEL_WRITE, NodeKind.VAL_WRITE):
        kw = dict(tensor="X", level=0)
    elif kind is NodeKind.BROADCAST:
        kw = dict(arity=cfg["outputs"])
    elif kind is NodeKind.LOCATE:
        lv = Level(LevelFormat.DENSE, 8)
        stored = {"T": StoredTensor(TensorFormat((LevelFormat.DENSE,)), (8,), [lv], np.zeros(8, np.float32))}
        kw = dict(tensor="T", level=0, index="j")
    r = run_node(kind, mapped, stored=stored, **kw)
    names = {k: ports.get(k, k) for k in case["outputs"]}
    if prim == "locate":
        names = {"out_ref1": "located", "out_ref2": "ref", "out_crd": "crd"}
    return r, names


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_golden(case):
    r, names = _run(case)
    cid = case["id"]
    if case["primitive"] in ("fiber_write", "val_write"):
        written = WRITTEN.get(cid, {})
        rec = r.ctx.levels.get("X", {}).get(0) or r.ctx.values.get("X", [])
        if case["primitive"] == "fiber_write":
            seg, n = [0], 0
            for tok in rec:
                if isinstance(tok, Stop):
                    seg.append(n)
                elif isinstance(tok, int):
                    n += 1
            crd = [t for t in rec if isinstance(t, int)]
            want = written.get("written_seg", [int(x) for x in case["outputs"]["written_seg"]])
            assert seg == want
            assert crd == [int(x) for x in case["outputs"]["written_crd"]]
        else:
            vals = [0.0 if not isinstance(v, (int, float, np.floating)) else float(v) for v in rec]
            want = written.get("written_vals", [float(x) for x in case["outputs"]["written_vals"]])
            assert vals == [float(x) for x in want]
        assert r.clock == case["final_clock"]
        return
    fix = CORRECTED.get(cid)
    if fix is not None:
        for port, text in fix.items():
            if port != "clock":
                _assert_stream(r.outputs[port], _parse_expect(text), f"{cid} {port}")
        assert r.clock == fix["clock"]
        return
    assert "expected_panic" not in case, f"{cid}: add the correct behaviour to CORRECTED"
    for port, want in case["outputs"].items():
        _assert_stream(r.outputs[names[port]], _stream(want), f"{cid} {port}")
    if "internal" in case:
        assert [(str(t), s) for t, s in r.outputs[names["repsig"]]] == \
            [(t, s) for t, s in case["internal"]["repsig"]]
    if "final_clocks" in case:
        assert r.clocks == [case["final_clocks"]["repsiggen"], case["final_clocks"]["repeat"]]
    assert r.clock == case["final_clock"]


def test_all_vectors_present():
    assert len(CASES) == 40
