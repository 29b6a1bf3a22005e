"""The streaming run of one kernel: bounded queues, every node a compiled step function,
called in turns until all have emitted D.

Exactness. Channels are unbounded in the model, so a primitive's clock depends only on
the stamps it reads: running it in pieces gives the same stamps as running it whole,
and queues only bound how far producers run ahead. The memory model is the one shared
state: a request's answer depends on every slot that lower-id clients take (see
``fuseflow.sim.memory``). A lower-id client with clock t takes no slot below
ceil(max(t, startup) / II) any more, so a request is answered only when every slot it
found lies below that horizon (the least over the unfinished lower-id clients); otherwise
the client waits (``MEM_WAIT``) and the others run on. This gives exactly the answers of
running every client whole in id order, as the reference does on a kernel whose streams
all go from a lower id to a higher one (the only kernels this path takes).

When no node can move, the smallest full queue a node waits on grows (Parks' rule), or
past ``EngineOptions.spill_at`` tokens overflows to disk (``spill.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from functools import partial
from graphlib import CycleError, TopologicalSorter
from typing import Any

import numpy as np
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.errors import SimulationError, out_of_memory
from fuseflow.ir.formats import LevelFormat
from fuseflow.ir.graph import Node, NodeKind
from fuseflow.ir.sysmem import available_bytes
from fuseflow.sim.counters import Counters
from fuseflow.sim.fast.codes import C_VAL
from fuseflow.sim.fast.rebuild import LevelRecord
from fuseflow.sim.fast.stream.boxed import Pool, boxed, collect, unbox
from fuseflow.sim.fast.stream.common import (
    BASE,
    CAP,
    DONE,
    END,
    GROW_STATE,
    HEAD,
    IRREGULAR,
    MEM_GROW,
    MEM_WAIT,
    NEED_IN,
    NEED_OUT,
    NO_HORIZON,
    T,
)
from fuseflow.sim.fast.stream.nodes import Ports, Runner, build
from fuseflow.sim.fast.stream.spill import TOKEN, Spills
from fuseflow.sim.kernel import KernelContext, KernelRun, collect_outputs
from fuseflow.sim.memory import Memory as FastMemory
from fuseflow.sim.options import EngineOptions
from fuseflow.sim.outputs import joined

I64 = np.int64
F32 = np.float32
# kernels streamed or left to the reference, and why (for tests and --profile)
STATS: dict[str, int] = {"streamed": 0, "not taken": 0, "not exact": 0, "reference": 0, "irregular": 0,
                         "largest queue": 0, "memory waits": 0, "spilled tokens": 0, "clients side by side": 0}
WHY: list[str] = []  # the last reasons, newest last
# primitives only the reference runs: Comal/tortilla imports have them, the compiler never emits them
REFERENCE_ONLY = (NodeKind.CRD_DROP, NodeKind.CRD_HOLD)
RESERVE = 512 << 20  # bytes of memory a queue's growth (or a kernel's end) leaves free, or a clear error stops the run


class Queues:
    """Every queue's arrays and the ``ctl`` table ([head, end, cap, base] per queue); ``cap``
    is below the arrays' ``size`` while a spilled queue's producer must wait (``Spills.gate``)."""

    def __init__(self, cap: int, kernel: str, opts: EngineOptions) -> None:
        self.cap0 = cap
        self.kernel = kernel
        self.names: list[str] = []  # each queue, for errors: "from <primitive> to <primitive>"
        self.spills = Spills(self, opts.spill_at, opts.spill_dir)
        self.Q: list[np.ndarray] = []
        self.V: list[np.ndarray] = []
        self.kind: list[str] = []  # "stream", "sink" or "record"
        self.pool: Pool | None = None  # a blocked kernel's tile pool (fast.stream.boxed)
        self.records: dict[int, Any] = {}  # writers' records by node id (``_drain``)
        self.ctl = np.zeros((0, 4), I64)

    def new(self, kind: str, name: str = "", owner: str = "") -> int:
        """A queue named ``name``, or for a node's sink or record, after its ``owner``."""
        self.names.append(name or f"{kind} of {owner}")
        self.kind.append(kind)
        self.Q.append(np.empty((2, self.cap0), I64))  # nothing is read before it is written
        self.V.append(np.empty(self.cap0, F32))
        self.ctl = np.concatenate([self.ctl, np.array([[0, 0, self.cap0, 0]], I64)])
        return len(self.Q) - 1

    def compact(self, q: int) -> None:
        """Move the unread tokens to the front."""
        c = self.ctl[q]
        h, e = int(c[HEAD]), int(c[END])
        if h == 0:
            return
        self.Q[q][:, :e - h] = self.Q[q][:, h:e].copy()
        self.V[q][:e - h] = self.V[q][h:e].copy()
        c[HEAD], c[END], c[BASE] = 0, e - h, c[BASE] + h
        if c[CAP] < self.size(q):  # a gated queue stays shut
            c[CAP] -= h

    def grow(self, q: int, room: int) -> None:
        """At least ``room`` free slots after the unread tokens."""
        self.compact(q)
        c = self.ctl[q]
        n = int(c[END])
        cap = max(2 * self.size(q), n + room)
        what = f"in kernel {self.kernel}, growing the queue {self.names[q]} to {cap:,} tokens"
        left = available_bytes()
        if left is not None and left - cap * TOKEN.itemsize < RESERVE:
            raise out_of_memory(what, nbytes=cap * TOKEN.itemsize)
        try:
            Q, V = np.empty((2, cap), I64), np.empty(cap, F32)
        except MemoryError as e:
            raise out_of_memory(what, e) from None
        Q[:, :n] = self.Q[q][:, :n]
        V[:n] = self.V[q][:n]
        self.Q[q], self.V[q] = Q, V
        c[CAP] = cap

    def size(self, q: int) -> int:
        return int(self.V[q].shape[0])

    def roomy(self, q: int, need: int) -> bool:
        """Worth waking the writer of ``q``: half of it free (after a compaction), or as
        much as it needs without one; and, on a spilled queue, room on disk."""
        if self.spills.full(q):
            return False
        c = self.ctl[q]
        free = int(c[CAP] - c[END] + c[HEAD])
        return free >= max(need, 3 * int(c[CAP]) // 4) or c[CAP] - c[END] >= need


class Stalled(Exception):
    """The streaming path cannot finish this kernel: the reference runs it, reporting any error."""


def supported(kernel: Kernel, ctx: KernelContext) -> bool:
    """No reference-only primitive, and streams from lower to higher ids, or else no cycle
    and at most one memory client (two could interleave otherwise than in id order)."""
    g = kernel.graph
    if _reference_only(kernel):
        return False
    if all(s.src.node < s.dst.node for s in g.streams):
        return True
    if ctx.memory is not None and sum(_is_memory_client(n, ctx) for n in g.nodes.values()) >= 2:
        return False
    try:
        TopologicalSorter({n: [s.src.node for s in g.streams if s.dst.node == n] for n in g.nodes}).prepare()
    except CycleError:
        return False
    return True


def _reference_only(kernel: Kernel) -> list[str]:
    return sorted({n.kind.value for n in kernel.graph.nodes.values() if n.kind in REFERENCE_ONLY})


def _is_memory_client(node: Node, ctx: KernelContext) -> bool:
    if node.kind is not NodeKind.LEVEL_SCAN:
        return node.kind in (NodeKind.VAL_ARRAY, NodeKind.LEVEL_WRITE, NodeKind.VAL_WRITE)
    a = node.attrs
    try:
        return a.tensor is not None and ctx.stored(a.tensor).levels[int(a.level)].format is not LevelFormat.DENSE  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - let the run report it
        return True


def run_kernel_streaming(program: Program, kernel: Kernel, env: dict, hw: Any, cap: int | None = None,
                         opts: EngineOptions | None = None) -> KernelRun | None:
    """The kernel's run, or None when the streaming path does not take it. ``cap``:
    tokens per queue at first (``opts.queue_capacity``; tests use tiny ones)."""
    opts = opts or EngineOptions()
    cap = cap or opts.queue_capacity
    ctx = KernelContext(program, env, hw)
    if not supported(kernel, ctx):  # the reference runs it (fast.engine.run_kernel_fast)
        only = _reference_only(kernel)
        STATS["not taken" if only else "not exact"] += 1
        WHY.append(f"{kernel.name}: " + (f"{'/'.join(only)} run on the reference" if only else "only the reference is exact"))
        return None
    fm = FastMemory(hw.memory) if ctx.memory is not None else None
    g = kernel.graph
    queues = Queues(cap, kernel.name, opts)
    ins: dict[int, dict[str, int]] = {n: {} for n in g.nodes}
    outs: dict[int, dict[str, int]] = {n: {} for n in g.nodes}
    kinds: dict[int, dict[str, Any]] = {n: {} for n in g.nodes}
    for s in g.streams:
        q = queues.new("stream", f"from {g.nodes[s.src.node].describe()} to {g.nodes[s.dst.node].describe()}")
        outs[s.src.node][s.src.port] = q
        ins[s.dst.node][s.dst.port] = q
        kinds[s.dst.node][s.dst.port] = s.kind
    runners: list[Runner] = []
    pool = boxed(kernel, ctx)  # values are tiles: queues carry handles into it
    for nid in sorted(g.nodes):
        node = g.nodes[nid]
        if any(spec.name not in ins[nid] and not spec.optional for spec in node.inputs()):
            WHY.append(f"{kernel.name}: {node.describe()} lacks an input")
            return None
        try:  # queues.new makes its sink and record queues
            r = build(node, Ports(ins[nid], outs[nid], partial(queues.new, owner=node.describe())), ctx, fm, kinds[nid], pool)
        except Exception as e:  # noqa: BLE001 - a node the reference will report on
            WHY.append(f"{kernel.name}: {node.describe()}: {e!r}")
            return None
        if r is None:
            STATS["not taken"] += 1
            WHY.append(f"{kernel.name}: {node.describe()} not taken")
            return None
        runners.append(r)
    queues.pool = pool
    queues.records = {r.node.id: LevelRecord(_dense_dim(r.node, ctx)) for r in runners if r.node.kind is NodeKind.LEVEL_WRITE}
    spills = queues.spills
    try:
        _schedule(runners, queues, fm, opts.queue_grown, opts.threads)
        if opts.show_queues:
            caps = sorted(((queues.size(q), q) for q in range(len(queues.Q))), reverse=True)[:8]
            print(f"stream: {kernel.name} biggest queues {caps}", flush=True)
            if spills.written:
                print(f"stream: {kernel.name} spilled {spills.written:,} tokens to disk, at most "
                      f"{spills.peak / 2**20:,.0f} MiB at once", flush=True)
    except Stalled as e:
        STATS["irregular"] += 1
        WHY.append(f"{kernel.name}: {e}")
        return None
    finally:
        STATS["spilled tokens"] += spills.written
        spills.close()
    STATS["streamed"] += 1
    STATS["largest queue"] = max(STATS["largest queue"], max(map(queues.size, range(len(queues.Q))), default=0))
    queues.Q, queues.V = [], []  # their RAM goes before the outputs are built (ctl keeps the counts)
    return _finish(program, kernel, ctx, runners, queues)


def _slot(fm: Any, c: Runner) -> int:
    """The first slot client ``c`` may still take (NO_HORIZON once it is done)."""
    return NO_HORIZON if c.done else -(-max(c.t, fm.startup) // fm.ii)


def _horizon(fm: Any, clients: list[Runner], k: int) -> int:
    """The first slot that a client before ``clients[k]`` may still take."""
    return min((_slot(fm, c) for c in clients[:k]), default=NO_HORIZON)


def _schedule(runners: list[Runner], queues: Queues, fm: Any, grown: int, threads: int) -> None:
    """Runs the nodes until all are done, lowest ready id first (tokens flow downstream
    while in cache). A stopped node is parked until what it waits for changes: tokens to
    read, room to write, or a later horizon. ``threads`` threads take ready nodes that
    share no queue with the running ones (memory clients on disjoint words of the bitmap:
    docs/fast-engine.md); the steps release the GIL, all bookkeeping happens under one lock."""
    clients = [r for r in runners if r.client] if fm is not None else []
    rank = {id(r): k for k, r in enumerate(clients)}
    producer = {q: r for r in runners for q in r.outs}
    consumer = {q: r for r in runners for q in r.ins}
    ins = {id(r): np.array(r.ins, I64) for r in runners}
    outs = {id(r): np.array(r.outs, I64) for r in runners}
    touches = {id(r): frozenset(r.ins) | frozenset(r.outs) for r in runners}
    ready = set(runners)

    def wake(r: Runner) -> None:
        if not r.done:
            ready.add(r)

    def prepare(r: Runner) -> tuple:
        hz = _horizon(fm, clients, rank[id(r)]) if r.client and fm is not None else NO_HORIZON
        shared = r.client and hz != NO_HORIZON and any(x.client for x in running.values())
        r.cap = hz & ~63 if shared else hz
        STATS["clients side by side"] += shared
        ctl = queues.ctl
        for q in r.outs:  # room at the back; each token moves once on average
            h = ctl[q, HEAD]
            woken = r.status == NEED_OUT and r.rep[0] == q
            if woken and 4 * (ctl[q, END] - h) <= ctl[q, CAP] and queues.size(q) < grown:
                queues.grow(q, 0)  # it was full and its reader took most of it: a long stream
            elif h and ((2 * ctl[q, END] > ctl[q, CAP] and 4 * (ctl[q, END] - h) <= ctl[q, CAP]) or woken):
                queues.compact(q)
        qi, qo = ins[id(r)], outs[id(r)]
        return hz, ctl[qi, HEAD] + ctl[qi, BASE], ctl[qo, END] + ctl[qo, BASE], r.t

    def settle(r: Runner, again: bool, hz: int, took: np.ndarray, gave: np.ndarray, t0: int) -> int:
        """Bookkeeping after a call (and its disk I/O: ``again`` wakes it); 1 when the node is done."""
        status = r.status
        ctl = queues.ctl
        qi, qo = ins[id(r)], outs[id(r)]
        if again:
            wake(r)
        for q in r.outs:
            if queues.kind[q] != "stream":
                _drain(r, queues, q)
                if status == NEED_OUT and r.rep[0] == q:
                    wake(r)  # it was full, and nobody else reads it
        for q in qi[ctl[qi, HEAD] + ctl[qi, BASE] != took].tolist():
            p = producer.get(q)
            if p is not None and p.status == NEED_OUT and p.rep[0] == q and queues.roomy(q, int(p.rep[1])):
                wake(p)
        for q in qo[ctl[qo, END] + ctl[qo, BASE] != gave].tolist():
            c = consumer.get(q)
            if c is not None and c.status == NEED_IN and c.rep[0] == q:
                wake(c)
        if status == DONE:
            r.done = True
        elif status == MEM_WAIT:
            r.hz = hz
            STATS["memory waits"] += 1
        elif status == IRREGULAR:
            raise Stalled(r.node.describe())
        if r.client and fm is not None and (r.done or r.t != t0):  # later horizons may have moved on
            k = rank[id(r)]
            h = _horizon(fm, clients, k)
            for c in clients[k:]:
                if c.status == MEM_WAIT and h > c.hz:
                    wake(c)
                h = min(h, _slot(fm, c))
            if not any(x.client for x in running.values()):
                fm.advance(h)  # no client searches below h any more
        return int(r.done)

    state: dict[str, Any] = {"left": len(runners), "error": None}
    running: dict[int, Runner] = {}  # nodes in a step function now, by id
    growing: set[int] = set()  # clients waiting to grow the bitmap
    cond = threading.Condition()

    def beside(r: Runner) -> bool:  # client r may run beside the running ones
        return not growing and all(rank[id(r)] > rank[id(k)] or _slot(fm, r) >> 6 > (k.cap - 1) >> 6
                                   for k in running.values() if k.client)

    def pick() -> Runner | None:
        """The lowest-id ready node that may run beside the running ones: no shared queue."""
        busy = frozenset().union(*(touches[k] for k in running)) if running else frozenset()
        for r in sorted(ready, key=lambda x: x.node.id):
            if r.done:
                ready.discard(r)
            elif not (touches[id(r)] & busy) and (not r.client or fm is None or beside(r)):
                ready.discard(r)
                return r
        return None

    def grow_memory(r: Runner) -> None:  # for client r, once no other client is in a call
        with cond:
            growing.add(id(r))
            while any(x.client and id(x) not in growing for x in running.values() if x is not r):
                cond.wait()
            fm._grow(*map(int, fm.client(r.node.id)[1:3]))  # its channel and blocks
            growing.discard(id(r))
            cond.notify_all()

    def work() -> None:
        while True:
            with cond:
                while True:
                    if state["left"] == 0 or state["error"] is not None:
                        cond.notify_all()
                        return
                    # only between calls, and not while handles sit on disk (it sees RAM queues only)
                    if queues.pool is not None and queues.pool.due and not queues.spills.fifo:
                        if running:
                            cond.wait()
                            continue
                        collect(queues.pool, queues, runners)
                    r = pick()
                    if r is not None:
                        break
                    if not running and not ready:  # every node parked: find the slack
                        try:
                            for x in _unstick(runners, queues, producer, consumer, clients, fm):
                                wake(x)
                        except Exception as e:  # noqa: BLE001 - handed to the caller
                            state["error"] = e
                        continue
                    cond.wait()
                pre = prepare(r)
                running[id(r)] = r
            error: Exception | None = None
            try:
                r.status = _call(r, queues, grow_memory)
                # disk I/O outside the lock: r still counts as running, so nothing else touches its queues
                again = bool(queues.spills.fifo) and queues.spills.settle(r, pre[2])
            except Exception as e:  # noqa: BLE001 - handed to the caller
                error = e
            with cond:
                running.pop(id(r))
                try:
                    state["left"] -= settle(r, again, *pre) if error is None else 0
                except Exception as e:  # noqa: BLE001 - handed to the caller
                    error = e
                if isinstance(error, MemoryError):  # the clear error naming the kernel and the primitive
                    error = out_of_memory(f"in kernel {queues.kernel}, at {r.node.describe()}", error)
                state["error"] = error or state["error"]
                cond.notify_all()

    helpers = [threading.Thread(target=work, daemon=True) for _ in range(max(1, threads) - 1)]
    for h in helpers:
        h.start()
    work()
    for h in helpers:
        h.join()
    if state["error"] is not None:
        raise state["error"]


def _call(r: Runner, queues: Queues, grow_memory: Callable[[Runner], None]) -> int:
    """One call of the node's step function (horizon ``r.cap``), after any growth it asks for."""
    while True:
        status = int(r.call(queues, r.cap))
        if status == MEM_GROW:
            grow_memory(r)
            continue
        if status == GROW_STATE:
            assert r.grow is not None
            r.grow(int(r.rep[1]))
            continue
        if status == NEED_OUT:
            q = int(r.rep[0])
            if queues.size(q) < r.rep[1]:  # it cannot fit even when empty
                queues.grow(q, int(r.rep[1]))
                continue
        return status


def _drain(r: Runner, queues: Queues, q: int) -> None:
    """Empties a sink; moves a writer's record queue into its record: float32 values (tile handles
    keep their codes for ``boxed``), a level's codes or squeezed dense level (``LevelRecord``)."""
    c = queues.ctl[q]
    h, e = int(c[HEAD]), int(c[END])
    codes = queues.Q[q][0, h:e]
    if e > h and queues.kind[q] == "record":
        if r.node.kind is NodeKind.LEVEL_WRITE:
            queues.records[r.node.id].add(codes)
        elif queues.pool is not None:
            r.records.append((codes.copy(), queues.V[q][h:e].copy()))
        else:
            queues.records.setdefault(r.node.id, []).append(np.where(codes == C_VAL, queues.V[q][h:e], F32(0)))
    c[HEAD] = e


def _dense_dim(node: Node, ctx: KernelContext) -> int | None:
    """The size of the dense output level ``node`` writes, or None (not dense, or blocked)."""
    a = node.attrs
    decl = ctx.program.program.tensor(str(a.tensor))
    fmt, lv = decl.format, int(a.level or 0)
    if fmt.block is not None or fmt.levels[lv] is not LevelFormat.DENSE:
        return None
    return int(decl.shape[fmt.mode_order[lv]])


def _unstick(runners: list[Runner], queues: Queues, producer: dict[int, Runner], consumer: dict[int, Runner],
             clients: list[Runner], fm: Any) -> list[Runner]:
    """No node is ready; the nodes to wake: writers whose queue is ``Queues.roomy``, readers
    of spilled queues, or else, following the waits (each parked node waits for one other)
    to a cycle, the owner of its smallest full queue, which grows (Parks' rule)."""
    roomy = [r for r in runners if not r.done and r.status == NEED_OUT and queues.roomy(int(r.rep[0]), int(r.rep[1]))]
    rounded = [x for x in runners if not x.done and x.status == MEM_WAIT and x.cap != x.hz]  # alone, the whole horizon
    if roomy or rounded:
        return roomy + rounded
    spills = queues.spills
    hungry = [x for x in runners if not x.done and x.status == NEED_IN and spills.pending(int(x.rep[0]))]
    for x in hungry:  # not after a settle (a queue that began to spill under its waiting reader)
        spills.refill(int(x.rep[0]), force=True)
    if hungry:
        return hungry
    seen: dict[int, int] = {}
    path: list[tuple[Runner, int]] = []  # each parked node, and the full queue it waits on (or -1)
    r: Runner | None = next(x for x in runners if not x.done)
    while r is not None and id(r) not in seen:
        seen[id(r)] = len(path)
        q = int(r.rep[0])
        path.append((r, q if r.status == NEED_OUT else -1))
        if r.status == MEM_WAIT:  # the lower-id client that holds the horizon back
            live = [c for c in clients[:clients.index(r)] if not c.done]
            r = min(live, key=lambda c: _slot(fm, c)) if live else None
        else:
            r = {NEED_IN: producer, NEED_OUT: consumer}.get(r.status, {}).get(q)
    if r is not None:
        full = [(x, q) for x, q in path[seen[id(r)]:] if q >= 0]
        if full:
            owner, q = min(full, key=lambda xq: queues.size(xq[1]) + spills.limit.get(xq[1], 0))  # RAM + disk
            if not spills.relieve(q, int(owner.rep[1])):
                queues.grow(q, int(owner.rep[1]))
            return [owner]
    stuck = [x.node.describe() for x in runners if not x.done]
    raise Stalled("deadlock: " + ", ".join(stuck[:4]))


def _finish(program: Program, kernel: Kernel, ctx: KernelContext, runners: list[Runner],
            queues: Queues) -> KernelRun:
    total = Counters()
    per: dict[str, Counters] = {}
    for r in runners:
        c = Counters(*(int(x) for x in r.st[1:10]))
        c.tokens = sum(int(queues.ctl[q, BASE] + queues.ctl[q, END]) + queues.spills.pending(q)
                       for q in r.outs if queues.kind[q] != "record")
        per[r.node.describe()] = c
        total.add(c)
        a = r.node.attrs
        rec = queues.records.pop(r.node.id, None)
        if r.node.kind is NodeKind.LEVEL_WRITE:
            cols = ctx.level_cols.setdefault(str(a.tensor), {})
            if int(a.level or 0) in cols:
                raise SimulationError(f"kernel {kernel.name}: two writers of level {a.level} of {a.tensor}")
            cols[int(a.level or 0)] = rec.result() if rec is not None else np.zeros(0, I64)
        elif r.node.kind is NodeKind.VAL_WRITE:
            if queues.pool is not None:  # handles
                codes = joined([c for c, _ in r.records])
                vals = np.concatenate([v for _, v in r.records]) if r.records else np.zeros(0, F32)
                r.records = []
                ctx.value_record(str(a.tensor)).extend(unbox(queues.pool, codes, vals))
            else:
                ctx.value_cols.setdefault(str(a.tensor), []).append(joined(rec or []).astype(F32, copy=False))
    outputs = collect_outputs(program, kernel, ctx)
    cycles = max((int(r.st[T]) for r in runners), default=0)
    return KernelRun(kernel.name, cycles, total, per, outputs)
