"""Test helpers of ff-sim: primitives run on hand-made, pre-stamped streams (unit tests,
golden vectors), and the memory model's readable specification."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from fuseflow.ir.data import StoredTensor
from fuseflow.ir.dataflow import Program
from fuseflow.ir.graph import Attrs, Node, NodeKind, StreamKind
from fuseflow.ir.program import TensorProgram
from fuseflow.ir.tokens import parse_tokens
from fuseflow.sim.channel import Channel
from fuseflow.sim.hw import HwConfig, MemoryConfig, load_hw
from fuseflow.sim.kernel import KernelContext
from fuseflow.sim.memory import Memory
from fuseflow.sim.prims import PRIMITIVES
from fuseflow.sim.process import Proc, run_network

Stamped = list[tuple[Any, int]]


class _Ctx(KernelContext):
    def __init__(self, hw: HwConfig, stored: dict[str, StoredTensor]) -> None:
        super().__init__(Program(TensorProgram()), {}, hw)
        self._stored = dict(stored)


@dataclass
class NodeRun:
    outputs: dict[str, Stamped]
    clocks: list[int]  # final clock of each process, in order
    procs: list[Proc]
    ctx: KernelContext

    @property
    def clock(self) -> int:
        return self.clocks[-1]

    def tokens(self, port: str) -> list[Any]:
        return [t for t, _ in self.outputs[port]]

    def stamps(self, port: str) -> list[int]:
        return [s for _, s in self.outputs[port]]


def stamped(text: str, start: int = 1) -> Stamped:
    """``"1 2 S0 D"`` -> tokens stamped start, start+1, ..."""
    return [(t, start + i) for i, t in enumerate(parse_tokens(text))]


class _Recorded(Channel):
    """A channel that keeps every element pushed, for the tests to read."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.log: Stamped = []

    def push(self, tok: Any, stamp: int) -> None:
        super().push(tok, stamp)
        self.log.append((tok, stamp))


def _load(name: str, items: Stamped) -> Channel:
    ch = Channel(name)
    for tok, st in items:
        ch.toks.append(tok)
        ch.stamps.append(st)
        ch.pushed += 1
    return ch


def run_nodes(nodes: list[tuple[Node, dict[str, Stamped | str]]], links: Sequence[tuple[int, str, int, str]] = (),
              stored: dict[str, StoredTensor] | None = None, hw: HwConfig | str = "no-hbm",
              kinds: dict[tuple[int, str], StreamKind] | None = None) -> NodeRun:
    """Run nodes whose inputs are pre-loaded (or linked: (src idx, port, dst idx, port));
    every unlinked output is recorded."""
    ctx = _Ctx(load_hw(hw), stored or {})
    ins: list[dict[str, Channel]] = []
    outs: list[dict[str, _Recorded]] = [{} for _ in nodes]
    for node, inputs in nodes:
        ins.append({p: _load(f"{node.describe()}.{p}", stamped(v) if isinstance(v, str) else v)
                    for p, v in inputs.items()})
    for s, sp, d, dp in links:
        ch = _Recorded(f"{s}.{sp}->{d}.{dp}")
        outs[s][sp] = ch
        ins[d][dp] = ch
    for i, (node, _) in enumerate(nodes):
        for spec in node.outputs():
            if spec.name not in outs[i]:
                outs[i][spec.name] = _Recorded(f"{node.describe()}.{spec.name}")
    ctx.kinds.update(kinds or {})
    procs = [PRIMITIVES[n.kind](n, ins[i], outs[i], ctx) for i, (n, _) in enumerate(nodes)]
    run_network(procs)
    recorded = {}
    for i, o in enumerate(outs):
        for port, ch in o.items():
            key = port if len(nodes) == 1 else f"{i}.{port}"
            recorded[key] = list(ch.log)
    return NodeRun(recorded, [p.t for p in procs], procs, ctx)


def run_node(kind: NodeKind, inputs: dict[str, Stamped | str], stored: dict[str, StoredTensor] | None = None,
             hw: HwConfig | str = "no-hbm", kinds: dict[str, StreamKind] | None = None, **attrs: Any) -> NodeRun:
    """Run one primitive on pre-stamped inputs; outputs are recorded by port name."""
    node = Node(0, kind, Attrs(**attrs))
    return run_nodes([(node, inputs)], stored=stored, hw=hw,
                     kinds={(0, p): k for p, k in (kinds or {}).items()})


# -- the HBM model as first written (fuseflow.sim.memory.Memory is tested equal to it) -------


class _Channel:
    __slots__ = ("taken",)

    def __init__(self) -> None:
        self.taken: dict[int, int] = {}  # slot -> a later slot that may be free (union-find)

    def claim(self, slot: int) -> int:
        path = []
        s = slot
        while s in self.taken:
            path.append(s)
            s = self.taken[s]
        for p in path:  # path compression
            self.taken[p] = s + 1
        self.taken[s] = s + 1
        return s


class SlotDictMemory:
    """The model as first written: a union-find dict of taken slots per channel (~100 bytes
    per slot, forever). Kept as the readable specification of ``Memory``."""

    def __init__(self, cfg: MemoryConfig) -> None:
        self.cfg = cfg
        self.chans = [_Channel() for _ in range(max(1, cfg.channels))]
        self.rr: dict[int, int] = {}  # client -> its next channel

    def access(self, t: int, words: int, client: int = 0) -> int:
        """Client ``client`` issues ``words`` word requests at cycle ``t``; the cycle the
        last one completes."""
        cfg = self.cfg
        ii = max(1, cfg.initiation_interval)
        n = len(self.chans)
        rr = self.rr.get(client, client % n)
        done = t
        for _ in range(words):
            ch = self.chans[rr]
            rr = (rr + 1) % n
            earliest = max(t, cfg.startup)
            slot = ch.claim(-(-earliest // ii))
            finish = slot * ii + cfg.latency
            if finish > done:
                done = finish
        self.rr[client] = rr
        return done


def channel_slots(model: Memory, c: int) -> bytes:
    """Channel c's slots in ``model``'s bitmap, a byte each (1: taken)."""
    words = np.ascontiguousarray(model.slots[:, c]).astype("<i8")
    return np.unpackbits(words.view(np.uint8), bitorder="little").tobytes()
