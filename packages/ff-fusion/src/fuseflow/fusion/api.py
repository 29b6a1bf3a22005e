"""Public entry points of ff-fusion: compile a model (or a captured program) to dataflow."""

from __future__ import annotations

from dataclasses import dataclass

from fuseflow.fusion.compile import CompileResult, GroupReport, compile_program, plan_group
from fuseflow.fusion.fused import reads_of
from fuseflow.fusion.passes import Knob
from fuseflow.ir.dataflow import Program
from fuseflow.ir.errors import KnobError


def knobs(model: str | None = None) -> list[Knob]:
    """The design-space knobs the passes declare (ff-dse enumerates these); with ``model``,
    resolved for it: ``block`` only where the model stores block-structured values."""
    from fuseflow.fusion.optimize import knobs as opt_knobs

    out = [Knob("fusion", ("unfused", "partial", "full"), "fusion granularity (or a SPEC)")] + opt_knobs()
    if model is not None and block_problem(model, None, 16) is not None:
        out = [Knob(k.name, (None,), k.help + " (not applicable: no block-structured tensor)")
               if k.name == "block" else k for k in out]
    return out


def block_problem(model: str, options: dict[str, str] | None, block: int) -> str | None:
    """Why value tiling by ``block`` does not apply to ``model`` with ``options``, or None.
    A zoo model tiles only if it declares ``tiled_dims`` (dimensions the block must divide);
    a user file's model is assumed to, its compile says otherwise."""
    from fuseflow.frontend.zoo import models

    spec = models().get(model)
    if spec is None:
        return None
    if spec.tiled_dims is None:
        return f"model {model} has no block-structured tensor to tile"
    dims = spec.tiled_dims(spec.parse_options(options))
    bad = [f"{name} {n}" for name, n in dims.items() if block <= 0 or n % block]
    return f"block {block} does not divide {', '.join(bad)} of {model}" if bad else None


def capture(model: str, options: dict[str, str] | None = None, dataset: str | None = None,
            fusion: str = "partial") -> Program:
    from fuseflow.frontend.api import load_program

    return load_program(model, dict(options or {}), dataset, fusion)


def compile_model(model: str, options: dict[str, str] | None = None, dataset: str | None = None,
                  fusion: str = "partial", order: str | None = None,
                  par: list[tuple[str, int]] | None = None, block: int | None = None) -> CompileResult:
    """Capture ``model`` (zoo name or ``file.py:factory``) and lower it to a dataflow program."""
    opts = dict(options or {})
    if block is not None:
        problem = block_problem(model, opts, block)
        if problem:
            raise KnobError(f"--block {block}: {problem}")
        if _has_block_option(model):
            opts.setdefault("block", str(block))
    prog = capture(model, opts, dataset, fusion)
    return compile_captured(prog, order=order, par=par, block=block)


def _has_block_option(model: str) -> bool:
    from fuseflow.frontend.zoo import models

    spec = models().get(model)
    return spec is not None and any(o.name == "block" for o in spec.options)


def compile_captured(prog: Program, order: str | None = None, par: list[tuple[str, int]] | None = None,
                     block: int | None = None) -> CompileResult:
    from fuseflow.fusion.optimize import optimization_passes

    extra = optimization_passes(par=par or [], block=block)
    from fuseflow.fusion.compile import default_passes

    result = compile_program(prog, order, passes=default_passes() + extra, block=block)
    meta = result.program.meta
    if order:
        meta["order"] = order
    if par:
        meta["par"] = ",".join(f"{i}:{f}" for i, f in par)
    if block:
        meta["block"] = str(block)
    return result


@dataclass
class OrderListing:
    group: str
    vars: list[str]
    count: int | None
    first: list[list[str]]


def list_orders(prog: Program, n: int = 10) -> list[OrderListing]:
    from fuseflow.fusion.pog import first_n

    tp = prog.program
    out = []
    for gi, group in enumerate(tp.groups):
        later = reads_of(tp, [a for g in tp.groups[gi + 1:] for a in g.assignments])
        plan = plan_group(tp, group, later)
        out.append(OrderListing(group.name, plan.pog.vars, plan.pog.count(), first_n(plan.pog, n)))
    return out


def format_report(reports: list[GroupReport]) -> str:
    lines = []
    for r in reports:
        lines.append(f"group {r.group}: {len(r.expressions)} expression(s) -> {', '.join(r.outputs)}")
        lines.append(f"  expressions: {', '.join(r.expressions)}")
        cnt = "not counted here, see --order list:" if r.order_count is None else str(r.order_count)
        lines.append(f"  order: {','.join(r.order)}  ({cnt} valid orders)")
        if r.fallback:
            lines.append(f"  preferred order not lowered ({r.fallback})")
        lines.append("  primitives: " + ", ".join(f"{k}={v}" for k, v in r.counts.items()))
        lines.append(f"  materialized views: {', '.join(r.materialized) or 'none'}")
        lines.append(f"  recomputed: {', '.join(r.recomputed) or 'none'}")
        for p in r.passes:
            opts = ", ".join(f"{k}={v}" for k, v in p.options.items())
            delta = _delta(p.before, p.after)
            lines.append(f"  pass {p.name}({opts}): {delta}")
    return "\n".join(lines) + "\n"


def _delta(before: dict[str, int], after: dict[str, int]) -> str:
    keys = sorted(set(before) | set(after))
    ch = [f"{k} {before.get(k, 0)}->{after.get(k, 0)}" for k in keys if before.get(k, 0) != after.get(k, 0)]
    return ", ".join(ch) if ch else "no change"
