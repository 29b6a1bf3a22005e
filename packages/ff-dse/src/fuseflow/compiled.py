"""The Python API in the ``torch.compile`` style: ``fuseflow.compile(module, inputs)``.

It captures a live ``nn.Module`` the same way ``ff compile FILE.py:FACTORY`` does, lowers it
with ff-fusion and returns a :class:`CompiledProgram` to simulate, save, draw or time.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fuseflow.ir.dataflow import Program
from fuseflow.ir.errors import FrontendError, memory_guard

if TYPE_CHECKING:
    from fuseflow.dse.bench import Baseline
    from fuseflow.sim.result import SimResult


class CompiledProgram:
    """A compiled dataflow program, with the module and inputs it came from (when live)."""

    def __init__(self, program: Program, module: Any = None, example_inputs: tuple[Any, ...] = (),
                 reports: Sequence[Any] = ()) -> None:
        self.program = program
        self.module = module
        self.example_inputs = example_inputs
        self.reports = list(reports)
        self.last_result: SimResult | None = None

    # -- running -----------------------------------------------------------------------
    def simulate(self, hw: str | Path | Any = "default", engine: str = "fast", check: bool = True,
                 **options: Any) -> SimResult:
        """Simulate every kernel (``fuseflow.sim.simulate``); with ``check``, compare with PyTorch.
        ``engine_options=EngineOptions(...)`` (``fuseflow.sim.options``, or a dict of its
        fields) sets the fast engine's queues, threads, profiling and compilation."""
        from fuseflow.sim import simulate

        self.last_result = simulate(self.program, hw=hw, engine=engine, check=check, **options)
        return self.last_result

    def baseline(self, compiled: bool = True, repeats: int = 10, hw: str | Path | Any = "default",
                 engine: str = "fast") -> Baseline:
        """Time the module on this machine (CPU eager, torch.compile, CUDA when present) beside
        the simulated time at ``hw``'s clock (simulating first if not done yet)."""
        from fuseflow.dse.bench import Baseline, time_module
        from fuseflow.sim.hw import load_hw

        if self.module is None:
            raise FrontendError("this program was loaded from a file: there is no PyTorch module to time")
        cfg = load_hw(hw)
        result = self.last_result or self.simulate(hw=cfg, engine=engine, check=False)
        timings = time_module(self.module, self.example_inputs, compiled=compiled, repeats=repeats)
        return Baseline(timings, int(result.cycles), cfg.clock_ghz, self.program.name)

    # -- files and views -----------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write the program (form by extension: .ffir binary, .fftxt text) and its data sidecar."""
        from fuseflow.ir import io

        io.save(self.program, path)
        return Path(path)

    def to_dot(self) -> str:
        """Graphviz DOT, one digraph per kernel."""
        from fuseflow.fusion.dot import to_dot

        return "\n".join(to_dot(k) for k in self.program.kernels)

    def kernel_rows(self) -> list[dict[str, Any]]:
        """Per kernel: name, primitives and, once simulated, cycles, FLOPs and bytes."""
        sim = {k.name: k for k in self.last_result.kernels} if self.last_result else {}
        rows = []
        for k in self.program.kernels:
            r: dict[str, Any] = {"kernel": k.name, "primitives": len(k.graph.nodes)}
            if k.name in sim:
                s = sim[k.name]
                r.update(cycles=s.cycles, flops=s.flops, bytes=s.bytes_moved)
            rows.append(r)
        return rows

    def summary(self) -> str:
        p = self.program
        lines = [f"FuseFlow program {p.name}: {len(p.kernels)} kernel(s)"
                 + (f", {', '.join(f'{k}={v}' for k, v in sorted(p.meta.items()) if k in ('fusion', 'order', 'par', 'block'))}"
                    if any(k in p.meta for k in ('fusion', 'order', 'par', 'block')) else "")]
        for r in self.kernel_rows():
            extra = f"  {r['cycles']} cycles, {r['flops']} FLOPs, {r['bytes']} bytes" if "cycles" in r else ""
            lines.append(f"  {r['kernel']:32s} {r['primitives']:5d} primitives{extra}")
        if self.last_result is not None:
            res = self.last_result
            check = f", check {res.check}" if res.check else ""
            lines.append(f"  total: {res.cycles} cycles, {res.flops} FLOPs, {res.bytes_moved} bytes{check}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"<CompiledProgram {self.program.name!r}: {len(self.program.kernels)} kernels>"

    def _repr_html_(self) -> str:
        rows = self.kernel_rows()
        cols = list(dict.fromkeys(c for r in rows for c in r))
        head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(str(r.get(c, '')))}</td>" for c in cols) + "</tr>"
                       for r in rows)
        title = html.escape(self.summary().splitlines()[0])
        return f"<div><b>{title}</b><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"

    def to_pandas(self) -> Any:
        """The per-kernel table as a pandas DataFrame (needs pandas)."""
        try:
            import pandas as pd
        except ImportError:
            raise FrontendError("to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(self.kernel_rows())


def compile_module(module: Any, example_inputs: Sequence[Any] | Any, *, fusion: str = "partial",
                   order: str | None = None, par: Sequence[tuple[str, int]] | Mapping[str, int] | None = None,
                   block: int | None = None, formats: Mapping[int | str, str] | None = None,
                   name: str | None = None) -> CompiledProgram:
    """Capture a live ``nn.Module`` on ``example_inputs`` (as ``ff compile FILE.py:FACTORY``
    does) and compile it. ``par`` is ``[("i", 4)]`` or ``{"i": 4}`` (``"*"``: each kernel's
    outermost output index); ``formats`` annotates inputs by position or name
    (``{0: "CSR"}``), like ``fuseflow.frontend.annotate``."""
    from fuseflow.frontend.capture import capture
    from fuseflow.fusion.api import compile_captured

    inputs = tuple(example_inputs) if isinstance(example_inputs, (tuple, list)) else (example_inputs,)
    label = name or type(module).__name__.lower()
    traced = module
    if formats:
        names = _input_names(module, len(inputs))
        unknown = [k for k in formats if k not in range(len(inputs)) and k not in names]
        if unknown:
            raise FrontendError(f"formats names inputs {unknown} that the module does not take "
                                f"(inputs: {', '.join(names)})")
        per_input = tuple(formats.get(i, formats.get(names[i])) for i in range(len(inputs)))
        traced = _annotated(module, per_input)
    pairs = list(par.items()) if isinstance(par, Mapping) else list(par or [])
    with memory_guard(f"compiling {label}"):
        prog = capture(traced, inputs, name=label, fusion=fusion)
        result = compile_captured(prog, order=order, par=pairs or None, block=block)
    result.program.meta["fusion"] = fusion
    return CompiledProgram(result.program, module, inputs, result.reports)


def _annotated(module: Any, formats: tuple[str | None, ...]) -> Any:
    """``module`` behind a forward that marks its inputs' storage formats (``annotate`` is an op
    that torch.export records, so it must run inside the traced forward)."""
    import torch

    from fuseflow.frontend.annotation import annotate

    class Annotated(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = module

        def forward(self, *xs: torch.Tensor) -> Any:
            return self.inner(*(annotate(x, f) if f else x for x, f in zip(xs, formats, strict=True)))

    return Annotated()


def _input_names(module: Any, n: int) -> list[str]:
    import inspect

    try:
        params = [p for p in inspect.signature(module.forward).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i].name if i < len(params) else f"input{i}" for i in range(n)]


def load(path: str | Path) -> CompiledProgram:
    """A program saved by :meth:`CompiledProgram.save` or ``ff compile -o`` (no module: no baseline)."""
    from fuseflow.ir import io

    return CompiledProgram(io.load(path))
