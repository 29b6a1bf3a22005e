"""A deterministic text form of a captured tensor program (for golden files and ``ff``)."""

from __future__ import annotations

from fuseflow.ir.program import TensorProgram, format_expr


def describe(program: TensorProgram, sources: bool = True) -> str:
    lines = [f"program {program.name}"]
    for d in program.tensors.values():
        extra = f" view_of={d.view_of}" if d.view_of else ""
        names = f" ({','.join(d.index_names)})" if d.index_names else ""
        shape = "x".join(map(str, d.shape)) or "scalar"
        lines.append(f"tensor {d.name} {shape} {d.format.spec() or '-'} {d.role.value}{extra}{names}")
    for a in program.assignments:
        src = f"  # {a.source}" if sources and a.source else ""
        lines.append(f"{a.name}: {format_expr(a.output)} = {format_expr(a.value)}{src}")
    for g in program.groups:
        lines.append(f"group {g.name}: {', '.join(g.assignments)}")
    lines.append(f"outputs {', '.join(program.outputs)}")
    return "\n".join(lines) + "\n"
