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

When no node can move, the engine grows the smallest full queue a node waits on (Parks'
rule for bounded Kahn networks), so memory grows only where the graph needs the slack.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from fuseflow.ir.dataflow import Kernel, Program
from fuseflow.ir.graph import NodeKind
from fuseflow.sim.counters import Counters
from fuseflow.sim.fast.col import Col
from fuseflow.sim.fast.memory import FastMemory
from fuseflow.sim.fast.rebuild import collect_outputs_fast, record_level, record_values
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
from fuseflow.sim.kernel import KernelContext, KernelRun

I64 = np.int64
F32 = np.float32
QUEUE_CAP = int(os.environ.get("FUSEFLOW_STREAM_CAP", 1 << 14))  # tokens per queue at first
# kernels streamed, and kernels left to the whole-stream path: why (for tests and profiles)
STATS: dict[str, int] = {"streamed": 0, "not taken": 0, "irregular": 0}
WHY: list[str] = []  # the last reasons, newest last


class Queues:
    """Every queue's arrays and the ``ctl`` table ([head, end, cap, base] per queue)."""

    def __init__(self, cap: int) -> None:
        self.cap0 = cap
        self.Q: list[np.ndarray] = []
        self.V: list[np.ndarray] = []
        self.kind: list[str] = []  # "stream", "sink" or "record"
        self.ctl = np.zeros((0, 4), I64)

    def new(self, kind: str) -> int:
        q = len(self.Q)
        self.Q.append(np.zeros((2, self.cap0), I64))
        self.V.append(np.zeros(self.cap0, F32))
        self.kind.append(kind)
        row = np.array([[0, 0, self.cap0, 0]], I64)
        self.ctl = np.concatenate([self.ctl, row])
        return q

    def compact(self, q: int) -> None:
        """Move the unread tokens to the front."""
        c = self.ctl[q]
        h, e = int(c[HEAD]), int(c[END])
        if h == 0:
            return
        n = e - h
        if n:
            self.Q[q][:, :n] = self.Q[q][:, h:e].copy()
            self.V[q][:n] = self.V[q][h:e].copy()
        c[HEAD], c[END], c[BASE] = 0, n, c[BASE] + h

    def grow(self, q: int, room: int) -> None:
        """At least ``room`` free slots after the unread tokens."""
        self.compact(q)
        c = self.ctl[q]
        n = int(c[END])
        cap = max(2 * int(c[CAP]), n + room)
        Q, V = np.zeros((2, cap), I64), np.zeros(cap, F32)
        Q[:, :n] = self.Q[q][:, :n]
        V[:n] = self.V[q][:n]
        self.Q[q], self.V[q] = Q, V
        c[CAP] = cap

    def pushed(self, q: int) -> int:
        return int(self.ctl[q, BASE] + self.ctl[q, END])


class Stalled(Exception):
    """The streaming path cannot finish this kernel (an input it does not take, or a
    graph that deadlocks): the kernel runs whole-stream, which reports any error."""


def supported(kernel: Kernel) -> bool:
    return all(s.src.node < s.dst.node for s in kernel.graph.streams)


def run_kernel_streaming(program: Program, kernel: Kernel, env: dict, hw: Any, cap: int = QUEUE_CAP) -> KernelRun | None:
    """The kernel's run, or None when the streaming path does not take it."""
    if not supported(kernel):
        STATS["not taken"] += 1
        return None
    ctx = KernelContext(program, env, hw)
    fm = FastMemory(hw.memory) if ctx.memory is not None else None
    g = kernel.graph
    queues = Queues(cap)
    ins: dict[int, dict[str, int]] = {n: {} for n in g.nodes}
    outs: dict[int, dict[str, int]] = {n: {} for n in g.nodes}
    kinds: dict[int, dict[str, Any]] = {n: {} for n in g.nodes}
    for s in g.streams:
        q = queues.new("stream")
        outs[s.src.node][s.src.port] = q
        ins[s.dst.node][s.dst.port] = q
        kinds[s.dst.node][s.dst.port] = s.kind
    runners: list[Runner] = []
    for nid in sorted(g.nodes):
        node = g.nodes[nid]
        if any(spec.name not in ins[nid] and not spec.optional for spec in node.inputs()):
            return None
        try:
            r = build(node, Ports(ins[nid], outs[nid], queues.new), ctx, fm, kinds[nid])
        except Exception:  # noqa: BLE001 - a node the whole-stream path will report on
            return None
        if r is None:
            STATS["not taken"] += 1
            WHY.append(f"{kernel.name}: {node.describe()} not taken")
            return None
        runners.append(r)
    try:
        _schedule(runners, queues, fm)
        if os.environ.get("FUSEFLOW_STREAM_DEBUG"):
            caps = sorted(((int(queues.ctl[q, CAP]), q) for q in range(len(queues.Q))), reverse=True)[:8]
            print(f"stream: {kernel.name} biggest queues {caps}", flush=True)
    except Stalled as e:
        STATS["irregular"] += 1
        WHY.append(f"{kernel.name}: {e}")
        return None
    STATS["streamed"] += 1
    return _finish(program, kernel, ctx, runners, queues)


def _slot(fm: Any, c: Runner) -> int:
    """The first slot client ``c`` may still take (NO_HORIZON once it is done)."""
    if c.done:
        return NO_HORIZON
    return -(-max(c.t, fm.startup) // fm.ii)


def _horizon(fm: Any, clients: list[Runner], k: int) -> int:
    """The first slot that a client before ``clients[k]`` may still take."""
    return min((_slot(fm, c) for c in clients[:k]), default=NO_HORIZON)


def _holder(fm: Any, clients: list[Runner], k: int) -> Runner | None:
    """The client before ``clients[k]`` that holds the horizon back."""
    live = [c for c in clients[:k] if not c.done]
    return min(live, key=lambda c: _slot(fm, c)) if live else None


def _schedule(runners: list[Runner], queues: Queues, fm: Any) -> None:
    clients = [r for r in runners if r.client] if fm is not None else []
    rank = {id(r): k for k, r in enumerate(clients)}
    producer = {q: r for r in runners for q in r.outs}
    consumer = {q: r for r in runners for q in r.ins}
    left = len(runners)
    while left:
        moved = False
        for r in runners:
            if r.done:
                continue
            ctl = queues.ctl
            if r.status == NEED_IN and queues.pushed(int(r.rep[0])) == r.wait_end:
                continue  # nothing new on the queue it waits for
            if r.status == NEED_OUT:
                q = int(r.rep[0])
                if ctl[q, CAP] - ctl[q, END] < r.rep[1]:
                    if 2 * ctl[q, HEAD] < ctl[q, END] or ctl[q, CAP] - ctl[q, END] + ctl[q, HEAD] < r.rep[1]:
                        continue  # wait until the reader took half (or enough)
                    queues.compact(q)
            hz = NO_HORIZON
            if r.client and fm is not None:
                hz = _horizon(fm, clients, rank[id(r)])
                if r.status == MEM_WAIT and hz <= r.hz:
                    continue
            for q in r.outs:  # room at the back; each token moves once on average
                h = ctl[q, HEAD]
                if h and 2 * ctl[q, END] > ctl[q, CAP] and 2 * h >= ctl[q, END]:
                    queues.compact(q)
            status = _call(r, queues, fm, hz)
            ctl = queues.ctl
            r.status = status
            if r.rep[2]:
                moved = True
                r.rep[2] = 0
            for q in r.outs:
                kind = queues.kind[q]
                if kind == "sink":
                    ctl[q, HEAD] = ctl[q, END]
                elif kind == "record":
                    _drain(r, queues, q)
            if status == DONE:
                r.done = True
                left -= 1
                moved = True
            elif status == NEED_IN:
                r.wait_end = queues.pushed(int(r.rep[0]))
            elif status == MEM_WAIT:
                r.hz = hz
            elif status == IRREGULAR:
                raise Stalled(r.node.describe())
        if not moved:
            _unstick(runners, queues, producer, consumer, clients, fm)


def _call(r: Runner, queues: Queues, fm: Any, hz: int) -> int:
    """One call of the node's step function, after any growth it asks for."""
    while True:
        e0 = int(queues.ctl[r.outs[0], END]) if r.post is not None else 0
        status = int(r.call(queues, hz))
        if r.post is not None:
            e1 = int(queues.ctl[r.outs[0], END])
            if e1 > e0:
                r.post(queues, e0, e1)
        if status == MEM_GROW:
            ms = fm.client(r.node.id)
            fm._grow(int(ms[1]), int(ms[2]))
            continue
        if status == GROW_STATE:
            assert r.grow is not None
            r.grow(int(r.rep[1]))
            continue
        if status == NEED_OUT:
            q = int(r.rep[0])
            if queues.ctl[q, CAP] < r.rep[1]:  # it cannot fit even when empty
                queues.grow(q, int(r.rep[1]))
                continue
        return status


def _drain(r: Runner, queues: Queues, q: int) -> None:
    c = queues.ctl[q]
    h, e = int(c[HEAD]), int(c[END])
    if e > h:
        vals = queues.V[q][h:e].copy() if r.node.kind is NodeKind.VAL_WRITE else None
        r.records.append((queues.Q[q][0, h:e].copy(), vals))
        c[HEAD] = e


def _unstick(runners: list[Runner], queues: Queues, producer: dict[int, Runner], consumer: dict[int, Runner],
             clients: list[Runner], fm: Any) -> None:
    """No node could move. Each node waits for one other: the producer of the queue it
    reads, the consumer of the full queue it writes, or the lower-id memory client that
    holds the horizon back. Following those waits from any node ends in a cycle; the
    smallest full queue on it grows (Parks' rule, on the cycle that needs it: growing a
    queue elsewhere would only let a node run ahead that nobody waits for)."""
    def waits_for(r: Runner) -> tuple[Runner | None, int]:
        q = int(r.rep[0])
        if r.status == NEED_IN:
            return producer.get(q), -1
        if r.status == NEED_OUT:
            return consumer.get(q), q
        if r.status == MEM_WAIT:
            return _holder(fm, clients, clients.index(r)), -1
        return None, -1

    start = next(r for r in runners if not r.done)
    seen: dict[int, int] = {}
    path: list[tuple[Runner, int]] = []
    r: Runner | None = start
    while r is not None and id(r) not in seen:
        seen[id(r)] = len(path)
        nxt, q = waits_for(r)
        path.append((r, q))
        r = nxt
    if r is not None:
        full = [q for _, q in path[seen[id(r)]:] if q >= 0]
        if full:
            q = min(full, key=lambda q: queues.ctl[q, CAP])
            owner = next(x for x, qq in path if qq == q)
            queues.grow(q, int(owner.rep[1]))
            return
    stuck = [x.node.describe() for x in runners if not x.done]
    raise Stalled("deadlock: " + ", ".join(stuck[:4]))


def _finish(program: Program, kernel: Kernel, ctx: KernelContext, runners: list[Runner],
            queues: Queues) -> KernelRun:
    total = Counters()
    per: dict[str, Counters] = {}
    for r in runners:
        c = Counters(*(int(x) for x in r.st[1:10]))
        c.tokens = sum(queues.pushed(q) for q in r.outs if queues.kind[q] != "record")
        per[r.node.describe()] = c
        total.add(c)
        a = r.node.attrs
        if r.node.kind is NodeKind.LEVEL_WRITE:
            codes = np.concatenate([c for c, _ in r.records]) if r.records else np.zeros(0, I64)
            record_level(ctx, a.tensor, a.level, Col(codes))
        elif r.node.kind is NodeKind.VAL_WRITE:
            codes = np.concatenate([c for c, _ in r.records]) if r.records else np.zeros(0, I64)
            vals = np.concatenate([v for _, v in r.records]) if r.records else np.zeros(0, F32)
            record_values(ctx, a.tensor, Col(codes, vals))
    outputs = collect_outputs_fast(program, kernel, ctx)
    cycles = max((int(r.st[T]) for r in runners), default=0)
    return KernelRun(kernel.name, cycles, total, per, outputs)
