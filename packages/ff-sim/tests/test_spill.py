"""Stream queues that overflow to disk (fast/stream/spill.py): with a tiny ``spill_at`` the
queues a run needs long go through temporary files, and every figure stays the
reference's. Each run is under an alarm: a lost wake-up must fail the test, not hang CI."""

from __future__ import annotations

import dataclasses
import random
import signal
from collections.abc import Iterator

import numpy as np
import pytest
from fuseflow.ir.errors import OutOfMemoryError, SimulationError, UsageError
from fuseflow.sim import simulate
from fuseflow.sim.fast.stream import engine as stream
from fuseflow.sim.options import EngineOptions

TINY = EngineOptions(queue_capacity=16, queue_grown=16, spill_at=64)
ALARM_S = 90  # the slowest case takes a few seconds; a hang spins or waits forever


@pytest.fixture(autouse=True)
def alarm() -> Iterator[None]:
    def fire(signum: int, frame: object) -> None:
        raise TimeoutError(f"a spilling run took more than {ALARM_S} s: a lost wake-up?")

    old = signal.signal(signal.SIGALRM, fire)
    signal.alarm(ALARM_S)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def _gcn(model: str, fusion: str, data: str, hidden: int = 8):
    from fuseflow.fusion.api import compile_model

    return compile_model(model, {"hidden": str(hidden)}, data, fusion).program


def _same_spilled(prog, hw: str = "default", opts: EngineOptions = TINY, **kw) -> dict[str, int]:
    """The fast engine with ``opts`` gives the reference's figures bit for bit; what it spilled."""
    opts = dataclasses.replace(opts, reuse=False)  # every kernel simulated, on both engines
    ref = simulate(prog, hw=hw, engine="reference", engine_options=EngineOptions(reuse=False), **kw)
    before = dict(stream.STATS)
    stream.STATS["largest queue"] = 0
    got = simulate(prog, hw=hw, engine="fast", engine_options=opts, **kw)
    assert (got.cycles, got.flops, got.bytes_moved, got.tokens_moved) == \
        (ref.cycles, ref.flops, ref.bytes_moved, ref.tokens_moved)
    assert [k.cycles for k in got.kernels] == [k.cycles for k in ref.kernels]
    assert got.counters == ref.counters
    assert got.per_primitive == ref.per_primitive
    assert set(got.outputs) == set(ref.outputs)
    for name, t in ref.outputs.items():
        a, b = np.asarray(t.to_dense()), np.asarray(got.outputs[name].to_dense())
        assert a.shape == b.shape and a.tobytes() == b.tobytes(), name
    assert stream.STATS["streamed"] - before["streamed"] == len(prog.kernels)
    return {"spilled": stream.STATS["spilled tokens"] - before["spilled tokens"],
            "largest": stream.STATS["largest queue"],
            "longest": max(c.tokens for c in got.per_primitive.values())}


@pytest.mark.parametrize("fusion", ["unfused", "full"])
def test_gcn_spills_and_stays_exact(fusion):
    """The memory model lets the adjacency's values run far ahead of the gathered rows:
    the queue between them is needed long, and goes to disk instead of RAM."""
    data = "random:nodes=40,density=0.08,seed=3,features=24"
    got = _same_spilled(_gcn("gcn", fusion, data, hidden=4))
    assert got["spilled"] > 1000
    assert got["largest"] <= 128  # spill_at 64: the largest RAM queue stays near it
    assert got["longest"] > 20 * got["largest"]


def test_spilling_off_grows_the_queue_instead():
    """spill_at 0: the same run keeps everything in RAM (and nothing goes to disk)."""
    prog = _gcn("gcn", "unfused", "random:nodes=40,density=0.08,seed=3,features=24", hidden=4)
    got = _same_spilled(prog, opts=EngineOptions(queue_capacity=16, queue_grown=16, spill_at=0))
    assert got["spilled"] == 0
    assert got["largest"] > 128


def test_one_token_queues_spill_exactly():
    """The smallest queues (1 token, spilling at 1): every refill and write-back boundary."""
    prog = _gcn("graphsage", "partial", "random:nodes=12,density=0.3,seed=5,features=6", hidden=3)
    got = _same_spilled(prog, opts=EngineOptions(queue_capacity=1, queue_grown=1, spill_at=1))
    assert got["spilled"] > 0


@pytest.mark.parametrize("seed", range(6))
def test_random_programs_spill_exactly(seed):
    """Seeded random zoo programs (model, fusion, graph, hidden size, preset, queue sizes)."""
    rnd = random.Random(seed)
    model = rnd.choice(["gcn", "graphsage"])
    fusion = rnd.choice(["unfused", "partial", "full"])
    nodes = rnd.randrange(8, 14 if fusion == "full" else 30)
    data = f"random:nodes={nodes},density={rnd.choice([0.1, 0.2, 0.4])},seed={rnd.randrange(99)}," \
           f"features={rnd.randrange(3, 12)}"
    cap = rnd.choice([1, 2, 4, 8])
    opts = EngineOptions(queue_capacity=cap, queue_grown=cap, spill_at=cap * rnd.choice([1, 2, 4]))
    _same_spilled(_gcn(model, fusion, data, hidden=rnd.randrange(2, 6)), hw=rnd.choice(["default", "no-hbm"]),
                  opts=opts)


def test_example_kernels_spill_exactly():
    """Memory clients of one kernel contending for channels, with queues of 2 tokens."""
    from fuseflow.ir import examples as ex

    opts = EngineOptions(queue_capacity=2, queue_grown=2, spill_at=2)
    for prog in (ex.elementwise(ex.BinaryOp.MUL, 12, 11, "dd"), ex.elementwise(ex.BinaryOp.ADD, 12, 11, "cc"),
                 ex.spmv(40, 30)):
        _same_spilled(prog, opts=opts, random_inputs=1, density=0.5)


def test_disk_fifo_packs_tokens_exactly(monkeypatch):
    """Tokens come back bit for bit through the packed blocks: int64 extremes (steps that
    wrap), NaN payloads and -0.0, reads that split blocks, files that rotate; and packed
    stamps and codes take fewer bytes than the 20 a token takes in RAM."""
    from fuseflow.sim.fast.stream import spill

    monkeypatch.setattr(spill, "BLOCK", 1000)
    monkeypatch.setattr(spill, "SEGMENT", 5000)
    rng = np.random.default_rng(1)
    n = 7777
    Q = np.stack([rng.integers(0, 300, n), np.cumsum(rng.integers(0, 4, n))]).astype(np.int64)
    Q[0, ::97], Q[1, 5::131] = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    V = rng.random(n).astype(np.float32)
    V.view(np.int32)[::13] = 0x7FC00001  # a NaN with a payload
    V[1::17] = -0.0
    fifo = spill.DiskFifo(None)
    fifo.put(Q, V, 3, n)
    fifo.put(Q, V, 0, 3)
    Q2, V2, got = np.zeros((2, n), np.int64), np.zeros(n, np.float32), 0
    while fifo.count:
        got += fifo.get(Q2, V2, got, int(rng.integers(1, 1500)))
    order = np.r_[3:n, 0:3]
    assert got == n and fifo.bytes == 0
    assert Q2.tobytes() == Q[:, order].tobytes() and V2.tobytes() == V[order].tobytes()
    small = spill.DiskFifo(None)
    small.put(np.stack([np.arange(n) % 200, np.arange(n) * 2]).astype(np.int64), np.ones(n, np.float32), 0, n)
    assert small.bytes < 10 * n  # 2 + 1 + 4 bytes a token
    fifo.close(), small.close()


def test_unwritable_spill_dir_names_kernel_and_queue(tmp_path, monkeypatch):
    """A directory the run cannot write to is a clear simulation error naming the kernel
    and the queue's primitives."""
    import errno
    import os

    from fuseflow.sim.fast.stream import spill

    if os.geteuid() == 0:  # root writes anywhere: the OS's answer to anyone else
        def denied(*a, **kw):
            raise PermissionError(errno.EACCES, "Permission denied")

        monkeypatch.setattr(spill.tempfile, "TemporaryFile", denied)
    d = tmp_path / "ro"
    d.mkdir()
    d.chmod(0o500)
    prog = _gcn("gcn", "unfused", "random:nodes=40,density=0.08,seed=3,features=24", hidden=4)
    opts = EngineOptions(queue_capacity=16, queue_grown=16, spill_at=64, spill_dir=str(d))
    with pytest.raises(SimulationError, match=r"kernel \S+: writing .* the queue from \S+#\d+ .* to .*--spill-dir"):
        simulate(prog, engine="fast", engine_options=opts)


def test_disk_error_names_kernel_and_queue(monkeypatch):
    """A write that fails (a full disk: ENOSPC) stops the run with the kernel and queue."""
    import errno

    from fuseflow.sim.fast.stream import spill

    def no_space(self, *a):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spill.DiskFifo, "put", no_space)
    prog = _gcn("gcn", "unfused", "random:nodes=40,density=0.08,seed=3,features=24", hidden=4)
    with pytest.raises(SimulationError, match=r"kernel k\d\S*: writing [\d,]+ bytes of the queue from "
                                              r"\S+#\d+ .* to \S+#\d+ .*No space left"):
        simulate(prog, engine="fast", engine_options=TINY)


def test_queue_growth_memory_cannot_hold_names_kernel_and_primitive(monkeypatch):
    """Out of memory in the streaming engine: exit 7, naming the kernel and the queue's
    primitives, before the OS kills the run."""
    monkeypatch.setattr(stream, "available_bytes", lambda: 1 << 20)
    prog = _gcn("gcn", "unfused", "random:nodes=40,density=0.08,seed=3,features=24", hidden=4)
    with pytest.raises(OutOfMemoryError, match=r"in kernel \S+, growing the queue from \S+#\d+ .* to \S+#\d+ .*"
                                               r"tokens: it needs [\d,]+ bytes") as e:
        simulate(prog, engine="fast", engine_options=EngineOptions(queue_capacity=16, queue_grown=16, spill_at=0))
    assert e.value.exit_code == 7


def test_memory_error_in_a_step_names_the_primitive(monkeypatch):
    """A MemoryError anywhere in a node's call names the kernel and that primitive."""
    from fuseflow.sim.fast.stream import nodes

    def boom(*a):
        raise MemoryError("Unable to allocate 3.00 GiB")

    monkeypatch.setattr(nodes.flow, "repeat_step", boom)
    prog = _gcn("gcn", "partial", "karate")
    with pytest.raises(OutOfMemoryError, match=r"out of memory in kernel \S+, at repeat#\d+"):
        simulate(prog, engine="fast")


@pytest.mark.parametrize("field,value,why", [
    ("spill_at", -1, "must be >= 0"), ("spill_at", "1k", "an integer"), ("spill_dir", "/no/such/dir", "existing"),
    ("spill_dir", 3, "a string")])
def test_bad_spill_options_are_usage_errors(field, value, why):
    with pytest.raises(UsageError, match=f"{field} \\(--{field.replace('_', '-')}\\) .*{why}"):
        EngineOptions.of({field: value})


def test_cli_spill_flags(tmp_path, capsys):
    """ff sim --spill-at/--spill-dir fill the options; a bad value is a usage error (exit 2)."""
    from fuseflow.ir import io
    from fuseflow.ir.cli import main

    prog = _gcn("gcn", "unfused", "random:nodes=40,density=0.08,seed=3,features=24", hidden=4)
    path = tmp_path / "p.ffir"
    io.save(prog, path)
    main(["sim", str(path), "--spill-at", "64", "--queue-capacity", "16", "--queue-grown", "16",
          "--spill-dir", str(tmp_path), "--show-queues"])
    out = capsys.readouterr().out
    assert "tokens to disk" in out
    assert f"{simulate(prog, engine='reference').cycles} cycles" in out
    for bad, why in ((["--spill-at", "-5"], "spill_at (--spill-at) must be >= 0"),
                     (["--spill-dir", str(tmp_path / "nope")], "spill_dir (--spill-dir) must be an existing dir")):
        with pytest.raises(SystemExit) as e:
            main(["sim", str(path), *bad])
        assert e.value.code == 2
        assert why in capsys.readouterr().err
