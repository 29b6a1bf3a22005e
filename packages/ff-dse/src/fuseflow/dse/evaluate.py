"""Evaluate one configuration: compile with ff-fusion, simulate with ff-sim (checked).

:func:`evaluate` is a pure function of the config (up to wall time). Any exception
becomes a FAILED result carrying the error text; nothing is dropped silently.
Sweeps take the evaluator as a parameter (``Evaluator``) so tests and studies can
inject another one, e.g. :func:`fuseflow.dse.synthetic.evaluate`.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from fuseflow.dse.config import Config
from fuseflow.dse.result import Estimate, Result, Status
from fuseflow.ir.errors import KnobError

Evaluator = Callable[[Config], Result]
Estimator = Callable[[Config], Estimate]


def compile_config(cfg: Config) -> Any:
    """``fuseflow.fusion.api.compile_model`` for a config; returns its dataflow Program."""
    from fuseflow.fusion.api import compile_model
    from fuseflow.fusion.passes.parallelize import AUTO_INDEX

    res = compile_model(
        cfg.model,
        options=dict(cfg.options) or None,
        dataset=cfg.dataset,
        fusion=cfg.fusion,
        order=cfg.order,
        par=[(i or AUTO_INDEX, f) for i, f in cfg.par] or None,  # index None: each kernel's outermost
        block=cfg.block,
    )
    return res.program


def kernel_cycles(kernels: Any) -> tuple[tuple[str, float], ...]:
    """Per-kernel cycles from a SimResult's ``kernels`` (dict, or list of items/pairs)."""
    if not kernels:
        return ()
    pairs: list[tuple[Any, Any]] = []
    if isinstance(kernels, dict):
        pairs = list(kernels.items())
    else:
        for k in kernels:
            pairs.append((k[0], k[1]) if isinstance(k, (tuple, list)) else (getattr(k, "name", "?"), k))
    return tuple((str(name), float(getattr(c, "cycles", c) or 0)) for name, c in pairs)


def failure(cfg: Config, exc: BaseException | str, wall: float = 0.0) -> Result:
    if isinstance(exc, BaseException):
        text = f"{type(exc).__name__}: {exc}"
        tb = traceback.extract_tb(exc.__traceback__)
        if tb:
            last = tb[-1]
            text += f" (at {last.filename.rsplit('/', 1)[-1]}:{last.lineno})"
    else:
        text = exc
    return Result(cfg, cfg.key(), Status.FAILED, wall_time=wall, error=text)


def invalid(cfg: Config, reason: str) -> Result:
    """A configuration whose knobs do not apply: recorded with the reason, never simulated."""
    return Result(cfg, cfg.key(), Status.INVALID, error=reason)


def knob_problem(cfg: Config) -> str | None:
    """Why ``cfg``'s knobs cannot apply, where that is known without compiling (block tiling)."""
    if cfg.block is None:
        return None
    from fuseflow.fusion.api import block_problem

    problem = block_problem(cfg.model, dict(cfg.options), cfg.block)
    return f"--block {cfg.block}: {problem}" if problem else None


def reset_peak_rss() -> None:
    """Start a new peak-RSS window for this process (Linux: ``echo 5 > /proc/self/clear_refs``)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def peak_rss() -> float | None:
    """This process's peak RSS in bytes since the last reset (VmHWM), or None off Linux."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return float(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def evaluate(cfg: Config, engine: str = "fast") -> Result:
    """Compile and simulate ``cfg`` with ``engine`` (the fast one by default) and ``check=True``;
    records the wall time and the peak RSS of the evaluation."""
    reset_peak_rss()
    result = _evaluate(cfg, engine)
    return replace(result, peak_rss=peak_rss())


def _evaluate(cfg: Config, engine: str) -> Result:
    t0 = time.perf_counter()
    try:
        from fuseflow.sim import simulate

        program = compile_config(cfg)
        est, note = None, ""
        try:
            from fuseflow.dse.costmodel import estimate as analytic

            est = analytic(program)
        except Exception as e:  # noqa: BLE001 - the estimate is optional, its failure is recorded
            note = f"cost model: {type(e).__name__}: {e}"
        sim = simulate(program, hw=cfg.hw, engine=engine, check=True, engine_options={"intermediates": False})
    except KnobError as e:
        return invalid(cfg, str(e))
    except Exception as e:  # noqa: BLE001 - every failure becomes a recorded result
        return failure(cfg, e, time.perf_counter() - t0)
    check = _check_flag(getattr(sim, "check", None))
    status = Status.MISMATCH if check is False else Status.OK
    mre = getattr(sim, "max_rel_error", None)
    if status is Status.MISMATCH:
        detail = getattr(sim, "first_mismatch", None) or getattr(sim, "check_note", "")
        note = f"check failed: max rel error {mre}; {detail} {note}".strip()
    return Result(
        cfg,
        cfg.key(),
        status,
        cycles=float(sim.cycles),
        flops=float(sim.flops),
        bytes_moved=float(sim.bytes_moved),
        kernel_cycles=kernel_cycles(getattr(sim, "kernels", None)),
        check=check,
        max_rel_error=None if mre is None else float(mre),
        wall_time=time.perf_counter() - t0,
        error=note,
        estimate=est,
        reused_kernels=len(getattr(sim, "reused", None) or ()),
    )


def _check_flag(value: Any) -> bool | None:
    """SimResult.check ("pass"/"fail"/None, or a bool) as a bool or None (no reference)."""
    if value is None or isinstance(value, bool):
        return value
    return str(value).lower() in ("pass", "ok", "true")


def evaluate_fast(cfg: Config) -> Result:
    """:func:`evaluate` with the fast engine (the default; ``--evaluator fast``)."""
    return evaluate(cfg, engine="fast")


def evaluate_reference(cfg: Config) -> Result:
    """:func:`evaluate` with the reference engine: the same figures, later (``--evaluator reference``)."""
    return evaluate(cfg, engine="reference")


def estimate_config(cfg: Config) -> Estimate:
    """Analytic estimate of a config: compile (cheap), then the cost model; no simulation."""
    from fuseflow.dse.costmodel import estimate as analytic

    return analytic(compile_config(cfg))


def resolve(name: str | None, default: Callable[..., Any]) -> Callable[..., Any]:
    """An evaluator/estimator by ``module:function`` (or ``synthetic``, ``fast``, ``reference``) name."""
    if not name:
        return default
    if name == "synthetic":
        from fuseflow.dse import synthetic

        return synthetic.evaluate if default is evaluate else synthetic.estimate
    if name in ("fast", "reference"):  # either engine: same results, so same store keys
        if default is not evaluate:
            return default
        return evaluate_fast if name == "fast" else evaluate_reference
    import importlib

    mod, _, fn = name.partition(":")
    try:
        found: Callable[..., Any] = getattr(importlib.import_module(mod), fn or "evaluate")
        return found
    except (ImportError, AttributeError) as e:
        from fuseflow.ir.errors import UnknownNameError

        raise UnknownNameError(f"cannot load evaluator {name!r}: {e}") from None
