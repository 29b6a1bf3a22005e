"""A deterministic stand-in evaluator/estimator for tests and dry runs (``--evaluator synthetic``).

Numbers are made up from a hash of the config (no compile, no simulation). Model
options steer it: ``fail=1`` raises, ``delay=SECONDS`` sleeps. With ``FF_DSE_SYNTH_LOG``
set, each evaluation appends the config key to that file (to count re-evaluations).
"""

from __future__ import annotations

import hashlib
import os
import time

from fuseflow.dse.config import Config
from fuseflow.dse.evaluate import failure
from fuseflow.dse.result import Estimate, Result, Status
from fuseflow.ir.errors import SimulationError

FUSION_FACTOR = {"unfused": 1.0, "partial": 0.55, "full": 0.8}


def _unit(cfg: Config, salt: str) -> float:
    h = hashlib.sha256((cfg.canonical() + salt).encode()).digest()
    return int.from_bytes(h[:4], "big") / 2**32


def estimate(cfg: Config) -> Estimate:
    base = 1e6 * (1 + len(cfg.model)) * FUSION_FACTOR.get(cfg.fusion, 0.7 + 0.3 * _unit(cfg, "f"))
    flops = base * (0.9 + 0.2 * _unit(cfg, "flops"))
    nbytes = 4 * base * (0.9 + 0.2 * _unit(cfg, "bytes"))
    return Estimate(flops, nbytes, (("k0", flops, nbytes),))


def evaluate(cfg: Config) -> Result:
    t0 = time.perf_counter()
    opts = dict(cfg.options)
    log = os.environ.get("FF_DSE_SYNTH_LOG")
    if log:
        with open(log, "a") as f:
            f.write(cfg.key() + "\n")
    delay = float(opts.get("delay", 0) or 0)
    if delay:
        time.sleep(delay)
    if opts.get("fail") == "1":
        return failure(cfg, SimulationError(f"synthetic failure of {cfg.label()}"), time.perf_counter() - t0)
    est = estimate(cfg)
    cycles = 0.5 * est.flops + 0.25 * est.bytes
    return Result(
        cfg, cfg.key(), Status.OK,
        cycles=cycles, flops=est.flops * 1.02, bytes_moved=est.bytes * 0.95,
        kernel_cycles=(("k0", cycles),), check=True, max_rel_error=0.0,
        wall_time=time.perf_counter() - t0, estimate=est,
    )
