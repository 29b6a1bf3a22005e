"""Real-hardware baselines: the same PyTorch model timed on this machine's CPU (eager and
``torch.compile``) and on CUDA when present, beside the simulated time at a stated clock."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

#: warm-up calls before timing, and timed calls (the median is reported)
WARMUP, REPEATS = 3, 10


@dataclass(frozen=True)
class Timing:
    """One way of running the model: the median wall time of ``repeats`` calls, or why it did not run."""

    name: str
    median_s: float | None
    repeats: int = 0
    note: str = ""

    def text(self) -> str:
        if self.median_s is None:
            return f"{self.name:22s} {self.note}"
        return f"{self.name:22s} median {_fmt_s(self.median_s):>10s} ({self.repeats} runs){'; ' + self.note if self.note else ''}"


@dataclass
class Baseline:
    """Measured timings beside the simulated time (cycles at ``clock_ghz``)."""

    timings: list[Timing]
    cycles: int | None = None
    clock_ghz: float = 1.0
    label: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def simulated_s(self) -> float | None:
        return None if self.cycles is None else self.cycles / (self.clock_ghz * 1e9)

    def ratio(self, name: str) -> float | None:
        """How many times faster the simulated design is than timing ``name`` (>1: faster)."""
        t = next((x for x in self.timings if x.name == name), None)
        sim = self.simulated_s
        if t is None or t.median_s is None or not sim:
            return None
        return t.median_s / sim

    def table(self) -> str:
        lines = [f"baseline on this machine{' (' + self.label + ')' if self.label else ''}:"]
        lines += ["  " + t.text() for t in self.timings]
        if self.cycles is not None:
            lines.append(f"  {'simulated':22s} {self.cycles} cycles at {self.clock_ghz:g} GHz = "
                         f"{_fmt_s(self.simulated_s or 0.0)}")
            for t in self.timings:
                r = self.ratio(t.name)
                if r is not None:
                    lines.append(f"  {'ratio ' + t.name + ' / simulated':38s} {r:.3g}x")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "cycles": self.cycles, "clock_ghz": self.clock_ghz,
                "simulated_s": self.simulated_s,
                "timings": [{"name": t.name, "median_s": t.median_s, "repeats": t.repeats, "note": t.note,
                             "ratio_vs_simulated": self.ratio(t.name)} for t in self.timings]}


def _fmt_s(s: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if s >= scale:
            return f"{s / scale:.3g} {unit}"
    return f"{s / 1e-9:.3g} ns"


def _median_time(fn: Callable[[], Any], warmup: int, repeats: int, sync: Callable[[], None] = lambda: None) -> float:
    for _ in range(warmup):
        fn()
    sync()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_module(module: Any, inputs: tuple[Any, ...], *, compiled: bool = True, cuda: bool = True,
                warmup: int = WARMUP, repeats: int = REPEATS) -> list[Timing]:
    """Median wall times of ``module(*inputs)``: CPU eager, CPU ``torch.compile`` (unless
    ``compiled`` is false, or with the reason it failed) and CUDA eager when a GPU is present."""
    import torch

    module = module.eval()
    out: list[Timing] = []
    with torch.no_grad():
        out.append(Timing("cpu eager", _median_time(lambda: module(*inputs), warmup, repeats), repeats))
        if compiled:
            out.append(_compiled_timing(module, inputs, warmup, repeats))
        if cuda:
            out.append(_cuda_timing(module, inputs, warmup, repeats))
    return out


def _compiled_timing(module: Any, inputs: tuple[Any, ...], warmup: int, repeats: int) -> Timing:
    import torch

    try:
        fn = torch.compile(module)
        t0 = time.perf_counter()
        fn(*inputs)  # the first call compiles
        first = time.perf_counter() - t0
        return Timing("cpu torch.compile", _median_time(lambda: fn(*inputs), warmup, repeats), repeats,
                      f"first call {first:.1f} s")
    except Exception as e:  # noqa: BLE001 - torch.compile's failure is a result to report
        return Timing("cpu torch.compile", None, note=f"did not run: {type(e).__name__}: "
                                                       f"{str(e).splitlines()[0][:120] if str(e) else ''}")


def _cuda_timing(module: Any, inputs: tuple[Any, ...], warmup: int, repeats: int) -> Timing:
    import copy

    import torch

    if not torch.cuda.is_available():
        return Timing("cuda eager", None, note="not available (no CUDA device)")
    try:
        dev = copy.deepcopy(module).to("cuda")
        xs = tuple(x.to("cuda") for x in inputs)
        return Timing("cuda eager", _median_time(lambda: dev(*xs), warmup, repeats, torch.cuda.synchronize),
                      repeats, torch.cuda.get_device_name())
    except Exception as e:  # noqa: BLE001 - reported
        return Timing("cuda eager", None, note=f"did not run: {type(e).__name__}: {e}")


def workload_timings(model: str, options: dict[str, str], dataset: str | None, compiled: bool = False,
                     repeats: int = 5) -> list[Timing]:
    """Time a zoo (or ``file.py:factory``) model as the DSE's workloads build it."""
    from fuseflow.frontend.api import build_model

    module, inputs, *_ = build_model(model, options, dataset)
    return time_module(module, inputs, compiled=compiled, repeats=repeats)


BASELINE_HEADER = ("workload", "best configuration", "simulated", "cpu eager", "ratio (cpu / simulated)",
                   "cuda eager")


def baseline_table(results: list[Any], cache: dict[str, Any], compiled: bool = False) -> list[list[str]]:
    """Per workload: its best configuration's simulated time (at its hardware's clock) beside this
    machine's median times. ``cache`` (kept in the store) saves re-timing a workload."""
    from fuseflow.dse.html_report import best_per_workload
    from fuseflow.sim.hw import load_hw

    out = []
    for wl, r in sorted(best_per_workload(results).items()):
        c = r.config
        if wl not in cache:
            try:
                cache[wl] = [[t.name, t.median_s, t.note] for t in
                             workload_timings(c.model, dict(c.options), c.dataset, compiled)]
            except Exception as e:  # noqa: BLE001 - a workload that cannot be rebuilt here says why
                cache[wl] = [["cpu eager", None, f"not timed: {type(e).__name__}: {e}"]]
        times = {name: (s, note) for name, s, note in cache[wl]}
        sim = float(r.cycles or 0) / (load_hw(c.hw).clock_ghz * 1e9)
        eager, note = times.get("cpu eager", (None, ""))
        cuda = times.get("cuda eager", (None, "-"))
        out.append([wl, c.label(), _fmt_s(sim), _fmt_s(eager) if eager else note,
                    f"{eager / sim:.3g}x" if eager and sim else "-",
                    _fmt_s(cuda[0]) if cuda[0] else str(cuda[1])])
    return out
