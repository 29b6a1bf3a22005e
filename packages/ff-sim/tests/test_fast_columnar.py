"""The columnar primitives of the fast engine give exactly what their loop versions give:
same tokens (same types, same float32 bits), same stamps, same final clock, counters and
memory state, on random streams (regular ones, which take the columnar path, and irregular
ones, which must fall back without side effects)."""

from __future__ import annotations

import random
from dataclasses import replace

import numpy as np
import pytest
from fuseflow.ir.data import Level, StoredTensor
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import Attrs, Node, NodeKind, StreamKind
from fuseflow.ir.program import BinaryOp, UnaryOp
from fuseflow.sim.fast import colprims
from fuseflow.sim.fast.col import Col, col_in, decode, encode, list_in
from fuseflow.sim.fast.colprims import COL_PRIMS
from fuseflow.sim.fast.engine import _Run
from fuseflow.sim.fast.memory import FastMemory
from fuseflow.sim.fast.prims import FAST_PRIMS
from fuseflow.sim.fast.rebuild import _values
from fuseflow.sim.harness import _Ctx
from fuseflow.sim.hw import load_hw
from fuseflow.sim.prims.common import DONE, EMPTY, Sig, Stop, stop

F32 = np.float32


def _key(tok):
    """Token identity for comparison: type and bits."""
    if type(tok) is F32:
        return ("f", tok.tobytes())
    return (type(tok).__name__, str(tok))


def _prefill(fm, rnd, n):
    """Slots taken by other clients first."""
    for _ in range(n):
        fm.access(rnd.randrange(0, 300), rnd.choice([1, 2, 8, rnd.randrange(1, 20)]), rnd.randrange(1, 20))


def _mem_state(fm):
    if fm is None:
        return None
    slots = [fm.channel(c).rstrip(b"\0") for c in range(fm.n)]
    return slots, {c: int(ms[0]) for c, ms in fm.clients.items()}


def _records(ctx):
    """What the writers recorded, as token keys (columnar records decoded)."""
    levels = {t: {lv: [_key(x) for x in r] for lv, r in lvs.items()} for t, lvs in ctx.levels.items()}
    for t, lvs in ctx.level_cols.items():
        for lv, c in lvs.items():
            levels.setdefault(t, {})[lv] = [_key(x) for x in decode(c)]
    values = {t: [_key(x) for x in r] for t, r in ctx.values.items()}
    values.update({t: [_key(x) for x in _values(c)] for t, c in ctx.value_cols.items()})
    return levels, values


def _random_memory(rnd, hwname, seed, **batches):
    """The preset, or for odd seeds under ``default`` random channels, latency, II and
    start-up (and batch sizes, e.g. ``val_batch=[3, 8]``)."""
    hw = load_hw(hwname)
    if hwname == "default" and seed % 2:
        hw = replace(hw, memory=replace(hw.memory, channels=rnd.choice([1, 3, 8, 11]), latency=rnd.choice([-1, 0, 2, 5]),
                                        initiation_interval=rnd.choice([1, 2, 3]), startup=rnd.choice([0, 14]),
                                        **{k: rnd.choice(v) for k, v in batches.items()}))
    return hw


def _both(kind, attrs, ins, hw="no-hbm", stored=None, kinds=None, prefill=0, seed=0, expect_col=True):
    """Run the loop and the columnar version on the same inputs; compare everything."""
    cfg = load_hw(hw) if isinstance(hw, str) else hw
    node = Node(0, kind, Attrs(**attrs))
    results = []
    for columnar in (False, True):
        ctx = _Ctx(cfg, stored or {})
        fm = FastMemory(cfg.memory) if cfg.memory.enabled else None
        if fm is not None:
            _prefill(fm, random.Random(seed), prefill)
        run = _Run(node, ctx, kinds or {}, fm)
        try:
            if columnar:
                cins = {}
                for p, s in ins.items():
                    ci = col_in(s)
                    cins[p] = ci if ci is not None else s
                outs = COL_PRIMS[kind](run, node, cins)
                if outs is None:
                    assert run.t == 0 and run.counters.as_dict() == type(run.counters)().as_dict()
                    assert not expect_col, "the columnar path declined a regular case"
                    outs = FAST_PRIMS[kind](run, node, {p: list_in(s) for p, s in ins.items()})
            else:
                outs = FAST_PRIMS[kind](run, node, {p: list_in(s) for p, s in ins.items()})
        except AssertionError:
            raise
        except Exception as e:  # noqa: BLE001 - both versions must fail the same way
            results.append(("error", type(e).__name__, str(e)))
            continue
        got = {}
        for port, (toks, stamps) in outs.items():
            toks = toks.tolist() if isinstance(toks, Col) else toks
            got[port] = ([_key(t) for t in toks], [int(s) for s in stamps])
        later = None
        if fm is not None:  # the memory answers later clients the same
            r2 = random.Random(seed + 1)
            later = [fm.access(r2.randrange(0, 2000), r2.choice([1, 3, 8]), r2.randrange(0, 20)) for _ in range(50)]
        results.append((got, run.t, run.counters.as_dict(), _mem_state(fm), later, _records(ctx)))
    assert results[0] == results[1]
    return results[0]


def _stamps(rnd, n, mode):
    if mode == "inc":
        out, t = [], 0
        for _ in range(n):
            t += rnd.choice([0, 1, 1, 2, 5])
            out.append(t)
        return out
    return [rnd.randrange(0, 3 * n + 5) for _ in range(n)]


def _stream(toks, rnd, mode):
    return list(toks), _stamps(rnd, len(toks), mode)


def _fibers(rnd, nfib, maxlen, empty_p=0.0, hi=20):
    """A crd stream of nested fibers (two levels, SAM stop folding), ending with D."""
    toks = []
    for f in range(nfib):
        m = 0 if rnd.random() < empty_p else rnd.randrange(1, maxlen + 1)
        toks += sorted(rnd.sample(range(hi), min(m, hi)))
        toks.append(stop(1) if f == nfib - 1 else stop(0))
    toks.append(DONE)
    return toks


MODES = ("inc", "rand")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(6))
def test_encode_decode_roundtrip(seed, mode):
    rnd = random.Random(seed)
    toks = _fibers(rnd, 5, 4, 0.2) + [EMPTY, Sig.R, Sig.S, Sig.N, F32(-0.0), F32(1.5), stop(40)]
    col = encode(toks)
    assert col is not None
    assert [_key(t) for t in decode(col)] == [_key(t) for t in toks]
    assert encode([np.ones(2, F32)]) is None  # tiles stay lists


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(8))
def test_broadcast_repeat_sig(seed, mode):
    rnd = random.Random(seed)
    toks = _fibers(rnd, rnd.randrange(1, 8), 5, 0.3)
    if seed % 3 == 0:
        toks.insert(2, EMPTY)
    s = _stream(toks, rnd, mode)
    _both(NodeKind.BROADCAST, {"arity": 2}, {"in": s})
    for kind in (StreamKind.CRD, StreamKind.REF):
        _both(NodeKind.REPEAT_SIG, {}, {"crd": s}, kinds={"crd": kind})


def _scan_children(parent, rnd, hi=6, empty_p=0.2):
    """The crd stream a scanner would give for each ref of ``parent`` (its stop rules)."""
    out = []
    i = 0
    while i < len(parent):
        tok = parent[i]
        i += 1
        if tok is DONE:
            out.append(DONE)
            break
        if type(tok) is type(stop(0)):
            out.append(stop(tok.level + 1))
            continue
        if tok is EMPTY:
            out.append(EMPTY)
            continue
        m = 0 if rnd.random() < empty_p else rnd.randrange(1, hi)
        out += sorted(rnd.sample(range(hi * 2), m))
        nxt = parent[i]
        if type(nxt) is type(stop(0)):
            i += 1
            out.append(stop(nxt.level + 1))
        else:
            out.append(stop(0))
    return out


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(10))
def test_repeat(seed, mode):
    rnd = random.Random(seed)
    parent = _fibers(rnd, rnd.randrange(1, 6), 4, 0.25)
    child = _scan_children(parent, rnd)
    sig = [Sig.S if type(t) is type(stop(0)) else (DONE if t is DONE else Sig.R) for t in child]
    vals = seed % 2 == 1  # a value stream repeated (payloads are float32)
    pin = [F32(rnd.uniform(-2, 2)) if type(t) is int else t for t in parent] if vals else parent
    _both(NodeKind.REPEAT, {}, {"in": _stream(pin, rnd, mode), "repsig": _stream(sig, rnd, mode)})
    # an N signal (a scanner's empty fiber) takes the loop
    sig_n = list(sig)
    if Sig.R in sig_n:
        sig_n[sig_n.index(Sig.R)] = Sig.N
        _both(NodeKind.REPEAT, {}, {"in": _stream(pin, rnd, mode), "repsig": _stream(sig_n, rnd, mode)},
              expect_col=False)


def _refs(rnd, n, nv, empty=False):
    toks = []
    for _ in range(n):
        start = rnd.randrange(0, nv)
        m = rnd.randrange(0, 12)
        toks += [min(nv - 1, start + k) for k in range(m)]
        if empty and rnd.random() < 0.3:
            toks.append(EMPTY)
        toks.append(stop(rnd.choice([0, 0, 1])))
    toks.append(DONE)
    return toks


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(8))
def test_dense_scan(seed, mode, monkeypatch):
    monkeypatch.setattr(colprims, "SCAN_RUNS", 4096 if seed % 4 < 2 else 0)
    rnd = random.Random(seed)
    dim = rnd.randrange(1, 5)
    hw = load_hw("no-hbm")
    if seed % 2:
        hw = replace(hw, scanner=replace(hw.scanner, output_latency=rnd.choice([0, 1, 3]),
                                         sequential_interval=rnd.choice([0, 1, 2]),
                                         initial_delay=rnd.choice([0, 2]), miss_latency=rnd.choice([0, 1])))
    toks = _refs(rnd, rnd.randrange(1, 6), 5, empty=seed % 3 == 0)
    stored = {"T": StoredTensor(None, (5, dim), [Level(LevelFormat.DENSE, 5), Level(LevelFormat.DENSE, dim)],
                                np.zeros(5 * dim, F32))}
    _both(NodeKind.LEVEL_SCAN, {"tensor": "T", "level": 1, "format": LevelFormat.DENSE, "index": "j"},
          {"ref": _stream(toks, rnd, mode)}, hw=hw, stored=stored)
    _both(NodeKind.LEVEL_SCAN, {"format": LevelFormat.DENSE, "dim": dim, "index": "j"},
          {"ref": _stream(toks, rnd, mode)}, hw=hw)


def _joined_pair(rnd, nfib, n_before_stop):
    """Two crd streams of the same fibers (two levels); ``n_before_stop``: input 0 has an
    N before the closing S1 where input 1 has none."""
    a, b = [], []
    for f in range(nfib):
        for toks in (a, b):
            toks += sorted(rnd.sample(range(12), rnd.randrange(0, 6)))
        last = f == nfib - 1
        if last and n_before_stop:
            a.append(EMPTY)
        a.append(stop(1) if last else stop(0))
        b.append(stop(1) if last else stop(0))
    return a + [DONE], b + [DONE]


def _refs_for(rnd, crd, values):
    return [(F32(rnd.uniform(-2, 2)) if values else rnd.randrange(0, 50)) if type(t) is int else t for t in crd]


@pytest.mark.parametrize("kind", (NodeKind.INTERSECT, NodeKind.UNION))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(10))
def test_joiners(seed, mode, kind):
    rnd = random.Random(seed)
    c0, c1 = _joined_pair(rnd, rnd.randrange(1, 5), seed % 3 == 0)
    if seed % 2:
        c0, c1 = c1, c0
    r0, r1 = _refs_for(rnd, c0, seed % 4 == 1), _refs_for(rnd, c1, seed % 4 == 2)
    ins = {"crd0": _stream(c0, rnd, mode), "ref0": _stream(r0, rnd, mode),
           "crd1": _stream(c1, rnd, mode), "ref1": _stream(r1, rnd, mode)}
    _both(kind, {"arity": 2, "index": "j"}, ins)
    # heads out of step (different stop levels) or a stream cut short: the loop reports it
    bad = [stop(0) if t == stop(1) else t for t in c1]
    _both(kind, {"arity": 2, "index": "j"}, dict(ins, crd1=_stream(bad, rnd, mode)), expect_col=False)
    _both(kind, {"arity": 2, "index": "j"}, dict(ins, ref0=_stream(r0[:-2], rnd, mode)), expect_col=False)


@pytest.mark.parametrize("far", (0, 5000))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hwname", ("default", "no-hbm"))
@pytest.mark.parametrize("seed", range(8))
def test_writers(seed, hwname, mode, far):
    """Level and value writers: clocks, counters, memory state and the recorded tokens."""
    rnd = random.Random(seed)
    hw = _random_memory(rnd, hwname, seed, write_batch=[1, 3, 8])
    crd = _fibers(rnd, rnd.randrange(1, 6), 5, 0.25)
    if seed % 3 == 0:
        crd.insert(rnd.randrange(0, len(crd)), EMPTY)
    vals = [F32(rnd.uniform(-2, 2)) if type(t) is int else t for t in crd]

    def late(toks):
        toks, stamps = _stream(toks, rnd, mode)
        return toks, [x + far for x in stamps]
    _both(NodeKind.LEVEL_WRITE, {"tensor": "O", "level": 1, "index": "j"}, {"crd": late(crd)}, hw=hw,
          prefill=rnd.choice([0, 5, 40]), seed=seed)
    _both(NodeKind.VAL_WRITE, {"tensor": "O"}, {"val": late(vals)}, hw=hw, prefill=rnd.choice([0, 5, 40]), seed=seed)
    # a stream without its D: both report the same error
    _both(NodeKind.LEVEL_WRITE, {"tensor": "O", "level": 1, "index": "j"}, {"crd": late(crd[:-1])}, hw=hw,
          expect_col=False)


@pytest.mark.parametrize("dtype", (np.int8, np.int16))
def test_sparse_scan_narrow_refs(dtype):
    """Refs in narrow code columns (a dense scan's output): arithmetic on them must not wrap
    (refs up to 127 + 1 in int8)."""
    rnd = random.Random(3)
    rows = int(np.iinfo(dtype).max) + 1 if dtype is np.int8 else 300
    lens = [rnd.choice([0, 1, 2]) for _ in range(rows)]
    seg = np.cumsum([0] + lens).astype(np.int64)
    crd = np.array([c for n in lens for c in sorted(rnd.sample(range(9), n))], np.int64)
    stored = {"T": StoredTensor(None, (rows, 9), [Level(LevelFormat.DENSE, rows), Level(LevelFormat.COMPRESSED, 9, seg, crd)],
                                np.zeros(len(crd), F32))}
    toks = [r for r in range(rows) if r % 3] + [stop(0), DONE]
    codes = Col(np.array([t if type(t) is int else (-8 if t == stop(0) else -1) for t in toks], dtype))
    assert codes.tolist()[-2:] == [stop(0), DONE]
    stamps = np.arange(1, len(toks) + 1, dtype=np.int64)
    for hw in ("default", "no-hbm"):
        _both(NodeKind.LEVEL_SCAN, {"tensor": "T", "level": 1, "format": LevelFormat.COMPRESSED, "index": "j"},
              {"ref": (codes, stamps)}, hw=hw, stored=stored)


@pytest.mark.parametrize("fmt", (LevelFormat.COMPRESSED, LevelFormat.SINGLETON))
@pytest.mark.parametrize("far", (0, 5000))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hwname", ("default", "no-hbm"))
@pytest.mark.parametrize("seed", range(8))
def test_sparse_scan(seed, hwname, mode, far, fmt):
    """Compressed and singleton scanners, with the memory model on (random channel
    settings, a prefilled model, bitmaps that grow mid-scan) and off."""
    rnd = random.Random(seed)
    rows = rnd.randrange(1, 7)
    lens = [rnd.choice([0, 1, 3, 9, 17]) for _ in range(rows)]
    seg = np.cumsum([0] + lens).astype(np.int64)
    crd = np.array([c for n in lens for c in sorted(rnd.sample(range(40), n))], np.int64)
    hw = _random_memory(rnd, hwname, seed, crd_batch=[1, 3, 8], seg_words_per_ref=[0, 2, 5])
    if seed % 4 == 3:
        hw = replace(hw, scanner=replace(hw.scanner, startup_delay=3, data_load_factor=0.5, initial_delay=2,
                                         output_latency=rnd.choice([0, 2]), sequential_interval=rnd.choice([0, 2])))
    if fmt is LevelFormat.COMPRESSED:
        level, nref = Level(fmt, 40, seg, crd), rows
    else:
        crd = crd if len(crd) else np.array([5], np.int64)
        level, nref = Level(fmt, 40, None, crd), len(crd)
    stored = {"T": StoredTensor(None, (rows, 40), [Level(LevelFormat.DENSE, rows), level],
                                np.zeros(max(1, len(crd)), F32))}
    toks, stamps = _stream(_refs(rnd, rnd.randrange(1, 8), nref, empty=seed % 3 == 0), rnd, mode)
    _both(NodeKind.LEVEL_SCAN, {"tensor": "T", "level": 1, "format": fmt, "index": "j"},
          {"ref": (toks, [x + far for x in stamps])}, hw=hw, stored=stored, prefill=rnd.choice([0, 5, 40]),
          seed=seed)


@pytest.mark.parametrize("far", (0, 5000))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hwname", ("default", "no-hbm"))
@pytest.mark.parametrize("seed", range(12))
def test_val_array(seed, hwname, mode, far):
    """``far``: stamps that late make the memory model's bitmaps grow during the walk."""
    rnd = random.Random(seed)
    nv = rnd.choice([16, 21, 40])
    hw = load_hw(hwname)
    if hwname == "default" and seed % 3:
        hw = replace(hw, memory=replace(hw.memory, channels=rnd.choice([1, 3, 8, 11]), val_batch=rnd.choice([3, 8]),
                                        latency=rnd.choice([-1, 0, 2, 5]), initiation_interval=rnd.choice([1, 2, 3]),
                                        startup=rnd.choice([0, 14])))
    vals = np.array([rnd.uniform(-1, 1) for _ in range(nv)], F32)
    stored = {"V": StoredTensor(None, (nv,), [Level(LevelFormat.DENSE, nv)], vals)}
    toks = _refs(rnd, rnd.randrange(1, 12), nv, empty=seed % 4 == 0)
    toks, stamps = _stream(toks, rnd, mode)
    stamps = [s + far for s in stamps]
    _both(NodeKind.VAL_ARRAY, {"tensor": "V"}, {"ref": (toks, stamps)}, hw=hw, stored=stored,
          prefill=rnd.choice([0, 5, 40]), seed=seed)


@pytest.mark.parametrize("block", (2, 4))
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("hwname", ("default", "no-hbm"))
@pytest.mark.parametrize("seed", range(6))
def test_tile_val_array(seed, hwname, mode, block):
    """Tiles: one request of B^2 words per ref, N gives a zero tile."""
    rnd = random.Random(seed)
    nv = rnd.choice([5, 9])
    hw = _random_memory(rnd, hwname, seed)
    vals = np.array([[[rnd.uniform(-1, 1) for _ in range(block)] for _ in range(block)] for _ in range(nv)], F32)
    stored = {"V": StoredTensor(None, (nv * block, block), [Level(LevelFormat.DENSE, nv)], vals)}
    toks = _refs(rnd, rnd.randrange(1, 8), nv, empty=seed % 3 == 0)
    _both(NodeKind.VAL_ARRAY, {"tensor": "V"}, {"ref": _stream(toks, rnd, mode)}, hw=hw, stored=stored,
          prefill=rnd.choice([0, 5, 40]), seed=seed)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", [BinaryOp.ADD, BinaryOp.SUB, BinaryOp.MUL, BinaryOp.DIV, BinaryOp.MAX])
@pytest.mark.parametrize("seed", range(4))
def test_binary_alu(seed, op, mode):
    rnd = random.Random(seed)
    shape = _fibers(rnd, rnd.randrange(1, 6), 4, 0.2)
    if seed % 2:
        shape.insert(1, EMPTY)

    def vals():
        return [F32(rnd.choice([rnd.uniform(-3, 3), 0.0, -0.0, 1e30])) if type(t) is int else t for t in shape]
    _both(NodeKind.ALU, {"op": op, "arity": 2}, {"a": _stream(vals(), rnd, mode), "b": _stream(vals(), rnd, mode)})
    # N against a value takes the loop
    a, b = vals(), vals()
    k = next((i for i, t in enumerate(a) if type(t) is F32), None)
    if k is not None:
        b[k] = EMPTY
        _both(NodeKind.ALU, {"op": op, "arity": 2}, {"a": _stream(a, rnd, mode), "b": _stream(b, rnd, mode)},
              expect_col=False)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", list(UnaryOp))
@pytest.mark.parametrize("seed", range(3))
def test_unary_alu(seed, op, mode):
    """Every unary op on a value column gives the loop's values bit for bit (numpy's
    elementwise loops, called on the whole column instead of per value)."""
    rnd = random.Random(seed)
    shape = _fibers(rnd, rnd.randrange(1, 6), 40, 0.2)
    if seed % 2:
        shape.insert(1, EMPTY)
    toks = [F32(rnd.choice([rnd.uniform(-30, 30), rnd.uniform(-1, 1), 0.0, -0.0, 1e30, -1e-30, 88.5]))
            if type(t) is int else t for t in shape]
    attrs = {"op": op, "arity": 1, "scalar": rnd.choice([None, 0.125, -3.0])}
    _both(NodeKind.ALU, attrs, {"a": _stream(toks, rnd, mode)})


def _spacc_inputs(rnd, nseg, empty_outer=False, hi=6, dense=False):
    outer, inner = [], []
    for _ in range(nseg):
        m = 0 if empty_outer and rnd.random() < 0.3 else rnd.randrange(1, 5)
        outer += sorted(rnd.sample(range(10), m))
        for c in range(m):
            inner += list(range(hi)) if dense else sorted(rnd.sample(range(hi), rnd.randrange(0, hi)))
            inner.append(stop(1) if c == m - 1 else stop(0))
        if m == 0:
            inner.append(stop(1))
        outer.append(stop(0))
    outer[-1] = stop(0)
    outer.append(DONE)
    inner.append(DONE)
    val = [F32(rnd.choice([rnd.uniform(-2, 2), -0.0, 0.0])) if type(t) is int else t for t in inner]
    return outer, inner, val


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(16))
def test_spacc1(seed, mode):
    rnd = random.Random(seed)
    outer, inner, val = _spacc_inputs(rnd, rnd.randrange(1, 6), empty_outer=seed % 2 == 1, dense=seed % 3 == 0)
    if seed % 4 == 1 and rnd.random() < 0.7:
        outer.insert(0, stop(0))  # an empty first fiber
        inner.insert(0, stop(1))
        val.insert(0, stop(1))

    def ins(o, i, v):
        return {"crd_outer": _stream(o, rnd, mode), "crd_inner": _stream(i, rnd, mode), "val": _stream(v, rnd, mode)}
    _both(NodeKind.SPACC1, {"index": "k"}, ins(outer, inner, val))
    # a bare inner stop at the wrong level, or N: the loop
    bare = [k for k in range(len(inner) - 1) if inner[k] == stop(1) and (k == 0 or type(inner[k - 1]) is not int)]
    if bare:
        bad = list(inner)
        bad[bare[0]] = stop(2)
        _both(NodeKind.SPACC1, {"index": "k"}, ins(outer, bad, val), expect_col=False)
    k = next((k for k, t in enumerate(inner) if type(t) is int), None)
    if k is not None:
        bad = list(inner)
        bad[k] = EMPTY
        _both(NodeKind.SPACC1, {"index": "k"}, ins(outer, bad, val), expect_col=False)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(10))
def test_locate(seed, mode):
    rnd = random.Random(seed)
    crd = _fibers(rnd, rnd.randrange(1, 6), 4, 0.2, hi=5)
    base = [rnd.choice([rnd.randrange(0, 4), EMPTY]) if type(t) is int else t for t in crd]
    ref = [rnd.randrange(0, 50) if type(t) is int else t for t in crd]
    stored = {"T": StoredTensor(None, (4, 5), [Level(LevelFormat.DENSE, 4), Level(LevelFormat.DENSE, 5)],
                                np.zeros(20, F32))}
    attrs = {"tensor": "T", "level": 1, "index": "k"}
    ins = {"crd": _stream(crd, rnd, mode), "base": _stream(base, rnd, mode)}
    _both(NodeKind.LOCATE, attrs, ins, stored=stored)
    _both(NodeKind.LOCATE, attrs, dict(ins, ref=_stream(ref, rnd, mode)), stored=stored)
    _both(NodeKind.LOCATE, attrs, {"crd": _stream(crd, rnd, mode)}, stored=stored)
    bad = list(base)
    k = next((i for i, t in enumerate(crd) if type(t) is int), None)
    if k is not None:
        bad[k] = stop(0)  # out of step: the loop reports it
        _both(NodeKind.LOCATE, attrs, dict(ins, base=_stream(bad, rnd, mode)), stored=stored, expect_col=False)


def _reduce_stream(rnd, nfib, maxlen, empty_p, n_p):
    toks = []
    for f in range(nfib):
        m = 0 if rnd.random() < empty_p else rnd.randrange(1, maxlen + 1)
        for _ in range(m):
            if rnd.random() < n_p:
                toks.append(EMPTY)
            toks.append(F32(rnd.choice([-0.0, 0.0, 1.0, -2.5, 1e-8, 3e7, rnd.uniform(-4, 4)])))
        toks.append(stop(rnd.choice([0, 0, 1, 2]) if f < nfib - 1 else 2))
    return toks + [DONE]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["sum", "max"])
@pytest.mark.parametrize("seed", range(10))
def test_reduce(seed, op, mode):
    from fuseflow.ir.program import ReduceOp

    rnd = random.Random(seed)
    toks = _reduce_stream(rnd, rnd.randrange(1, 12), rnd.choice([1, 3, 40]), 0.3, 0.2 if seed % 2 else 0.0)
    attrs = {"op": ReduceOp.SUM if op == "sum" else ReduceOp.MAX, "index": "k"}
    _both(NodeKind.REDUCE, attrs, {"val": _stream(toks, rnd, mode)})
    # values after the last stop are dropped at D; no D at all falls back to the loop
    _both(NodeKind.REDUCE, attrs, {"val": _stream(toks[:-1] + [F32(1.0), DONE], rnd, mode)})
    _both(NodeKind.REDUCE, attrs, {"val": _stream(toks[:-1], rnd, mode)}, expect_col=False)


def _parent_and_values(rnd, ngroups, maxlen, n_p):
    """A parent crd stream and a value stream with one fiber per parent coordinate (the
    last fiber of a group closes with the parent's stop one level up, an empty group
    shows only that stop)."""
    par, vals = [], []
    for g in range(ngroups):
        k = rnd.choice([0, 0, 1]) if g < ngroups - 1 else 1
        coords = sorted(rnd.sample(range(50), rnd.choice([0, 1, 1, 2, 5])))
        for n, c in enumerate(coords):
            par.append(c)
            for _ in range(0 if rnd.random() < 0.25 else rnd.randrange(1, maxlen + 1)):
                if rnd.random() < n_p:
                    vals.append(EMPTY)
                vals.append(F32(rnd.choice([-0.0, 1.0, -2.5, 3e7, rnd.uniform(-4, 4)])))
            vals.append(stop(k + 1 if n == len(coords) - 1 else 0))
        if not coords:
            vals.append(stop(k + 1))
        par.append(stop(k))
    return par + [DONE], vals + [DONE]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("op", ["sum", "max"])
@pytest.mark.parametrize("seed", range(10))
def test_reduce_with_parent(seed, op, mode):
    """A reducer below a level whose fibers may be empty takes that level's coordinates."""
    from fuseflow.ir.program import ReduceOp

    rnd = random.Random(seed)
    par, vals = _parent_and_values(rnd, rnd.randrange(1, 8), rnd.choice([1, 3, 20]), 0.2 if seed % 2 else 0.0)
    attrs = {"op": ReduceOp.SUM if op == "sum" else ReduceOp.MAX, "index": "k"}
    _both(NodeKind.REDUCE, attrs, {"val": _stream(vals, rnd, mode), "crd": _stream(par, rnd, mode)})
    # out of step (a value fiber closes one level too high): the loop reports it
    bad = list(vals)
    k = next(i for i, t in enumerate(bad) if type(t) is Stop)
    bad[k] = stop(bad[k].level + 1)
    _both(NodeKind.REDUCE, attrs, {"val": _stream(bad, rnd, mode), "crd": _stream(par, rnd, mode)},
          expect_col=False)


def test_outputs_filling_little_of_a_big_buffer_are_copied_out():
    """A small output in a worst-case buffer would pin the whole buffer until its stream
    dies; the engine copies it out (once for a column two ports share)."""
    from fuseflow.sim.fast import engine
    from fuseflow.sim.fast.col import Col

    big = np.arange(engine._SLACK // 8 + 10, dtype=np.int64)
    small = Col(big[:100])
    stamps = big[:100]
    outs = engine._fit({"crd": (small, stamps), "ref": (small, stamps), "whole": (Col(big), big)})
    crd, ref, whole = outs["crd"], outs["ref"], outs["whole"]
    assert crd[0].codes.base is None and np.array_equal(crd[0].codes, np.arange(100))
    assert ref[0].codes is crd[0].codes and crd[1] is ref[1] and crd[1].base is None
    assert whole[0].codes is big and whole[1] is big  # a full buffer stays as it is
