"""The outcome of evaluating one configuration."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from fuseflow.dse.config import Config


class Status(enum.Enum):
    OK = "ok"
    FAILED = "failed"  # compile or simulation raised; ``error`` holds the text
    MISMATCH = "mismatch"  # simulated, but the result differs from the PyTorch reference
    INVALID = "invalid"  # a knob does not apply to the workload (``error`` says why); not simulated


@dataclass(frozen=True)
class Estimate:
    """Analytic FLOPs and bytes of a configuration (no simulation)."""

    flops: float
    bytes: float
    kernels: tuple[tuple[str, float, float], ...] = ()  # (kernel, flops, bytes)

    def score(self, bytes_weight: float = 1.0) -> float:
        return self.flops + bytes_weight * self.bytes


@dataclass(frozen=True)
class Result:
    config: Config
    key: str
    status: Status
    cycles: float | None = None
    flops: float | None = None
    bytes_moved: float | None = None
    kernel_cycles: tuple[tuple[str, float], ...] = ()
    check: bool | None = None
    max_rel_error: float | None = None
    wall_time: float = 0.0
    error: str = ""
    estimate: Estimate | None = None
    peak_rss: float | None = None  # bytes: the evaluating process's peak during this evaluation (Linux)
    reused_kernels: int = 0  # kernels whose figures the simulator reused (fuseflow.sim.reuse)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "config": self.config.to_dict(),
            "label": self.config.label(),
            "status": self.status.value,
            "cycles": self.cycles,
            "flops": self.flops,
            "bytes_moved": self.bytes_moved,
            "kernel_cycles": [[k, c] for k, c in self.kernel_cycles],
            "check": self.check,
            "max_rel_error": self.max_rel_error,
            "wall_time": self.wall_time,
            "peak_rss": self.peak_rss,
            "reused_kernels": self.reused_kernels,
            "error": self.error,
            "est_flops": self.estimate.flops if self.estimate else None,
            "est_bytes": self.estimate.bytes if self.estimate else None,
            "est_kernels": [list(k) for k in self.estimate.kernels] if self.estimate else [],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Result:
        est = None
        if d.get("est_flops") is not None:
            kernels = tuple((str(k), float(f), float(b)) for k, f, b in d.get("est_kernels") or ())
            est = Estimate(float(d["est_flops"]), float(d["est_bytes"] or 0.0), kernels)
        return cls(
            config=Config.from_dict(d["config"]),
            key=d["key"],
            status=Status(d["status"]),
            cycles=d.get("cycles"),
            flops=d.get("flops"),
            bytes_moved=d.get("bytes_moved"),
            kernel_cycles=tuple((str(k), float(c)) for k, c in d.get("kernel_cycles") or ()),
            check=d.get("check"),
            max_rel_error=d.get("max_rel_error"),
            wall_time=float(d.get("wall_time") or 0.0),
            peak_rss=d.get("peak_rss"),
            reused_kernels=int(d.get("reused_kernels") or 0),
            error=d.get("error") or "",
            estimate=est,
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)
