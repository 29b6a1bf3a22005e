"""What a simulation reports."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from fuseflow.ir.data import TensorData
from fuseflow.sim.counters import Counters


@dataclass
class KernelResult:
    name: str
    cycles: int
    flops: int
    bytes_moved: int
    counters: Counters
    per_primitive: dict[str, Counters] = field(default_factory=dict)
    reused_from: str = ""  # the kernel whose figures this one reused (fuseflow.sim.reuse), or ""

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "cycles": self.cycles, "flops": self.flops, "bytes_moved": self.bytes_moved,
            "reused_from": self.reused_from or None,
            "counters": self.counters.as_dict(),
            "per_primitive": {k: v.as_dict() for k, v in self.per_primitive.items()},
        }


@dataclass
class SimResult:
    cycles: int
    flops: int
    bytes_moved: int
    kernels: list[KernelResult]
    counters: Counters
    per_primitive: dict[str, Counters]  # "kernel/primitive" -> counters
    outputs: dict[str, TensorData]
    engine: str = "reference"
    hw: str = "default"
    check: Literal["pass", "fail"] | None = None
    check_note: str = ""
    max_rel_error: float | None = None
    first_mismatch: dict[str, Any] | None = None
    tokens_moved: int = 0
    wall_time: float = 0.0
    trace: dict[str, dict[str, list[list[int]]]] = field(default_factory=dict, repr=False)  # kernel -> busy
    random_inputs: tuple[str, ...] = ()  # tensors given seeded random values
    reused: dict[str, str] = field(default_factory=dict)  # kernel -> kernel whose figures it reused

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles, "flops": self.flops, "bytes_moved": self.bytes_moved,
            "engine": self.engine, "hw": self.hw,
            "check": self.check, "check_note": self.check_note, "max_rel_error": self.max_rel_error,
            "first_mismatch": self.first_mismatch, "tokens_moved": self.tokens_moved,
            "wall_time": round(self.wall_time, 6), "random_inputs": list(self.random_inputs),
            "reused_kernels": len(self.reused),
            "kernels": [k.to_json_dict() for k in self.kernels],
            "counters": self.counters.as_dict(),
            "per_primitive": {k: v.as_dict() for k, v in self.per_primitive.items()},
            "outputs": {n: {"shape": list(t.shape), "nnz": t.nnz()} for n, t in self.outputs.items()},
        }
