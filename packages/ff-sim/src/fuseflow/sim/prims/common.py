"""Token helpers shared by the primitives."""

from __future__ import annotations

import enum

from fuseflow.ir.tokens import DONE, EMPTY, Stop, is_payload, is_stop
from fuseflow.sim.channel import Channel
from fuseflow.sim.process import Proc, Wait

_STOPS = [Stop(k) for k in range(32)]


def stop(k: int) -> Stop:
    return _STOPS[k] if k < 32 else Stop(k)


def lanes(proc: Proc, prefix: str, chans: dict[str, Channel]) -> list[Channel]:
    """The channels ``prefix``0 .. ``prefix``(arity-1) of a many-input (or many-output) primitive."""
    return [chans[f"{prefix}{i}"] for i in range(proc.node.attrs.arity or 0)]


def fiber_stop(proc: Proc, inp: Channel) -> Wait:
    """The scanner stop rule: a fiber closes with S0, unless the next input is a stop Sk,
    which is taken and folded into S(k+1)."""
    nxt = yield from proc.peek(inp)
    if not is_stop(nxt):
        return stop(0)
    yield from proc.deq(inp)
    return stop(nxt.level + 1)


class Sig(enum.Enum):
    """Repeat-signal tokens (the stream also ends with ``D``)."""

    R = "R"  # repeat the head
    S = "S"  # pop the head and close the fiber
    N = "N"  # an empty fiber (a coordinate stream's N): emit N and pop the head

    def __str__(self) -> str:
        return self.value


__all__ = ["DONE", "EMPTY", "Sig", "Stop", "fiber_stop", "is_payload", "lanes", "is_stop", "stop"]
