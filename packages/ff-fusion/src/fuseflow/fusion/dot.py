"""Graphviz DOT for kernels (rendered to SVG when the ``dot`` program exists)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

from fuseflow.ir.dataflow import Kernel, Program

COLORS = {"crd": "blue", "ref": "darkgreen", "val": "red", "repsig": "gray40"}


def quoted(text: str) -> str:
    """``text`` as a DOT double-quoted string (names from an IR file may hold any character)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def file_stem(name: str, taken: set[str]) -> str:
    """A file name for a kernel: no path separators, no dot-files, unique in ``taken``."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "kernel"
    out, n = stem, 1
    while out in taken:
        n += 1
        out = f"{stem}_{n}"
    taken.add(out)
    return out


def to_dot(kernel: Kernel) -> str:
    g = kernel.graph
    lines = [f"digraph {quoted(kernel.name)} {{", "  rankdir=TB; node [shape=box, fontsize=10];"]
    for n in g.nodes.values():
        lines.append(f"  n{n.id} [label={quoted(n.describe())}];")
    for s in g.streams:
        lines.append(f"  n{s.src.node} -> n{s.dst.node} [color={COLORS[s.kind.value]}, "
                     f"label={quoted(f'{s.src.port}>{s.dst.port}')}, fontsize=8];")
    lines.append("}")
    return "\n".join(lines)


def render_kernels(prog: Program, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    dot = shutil.which("dot")
    taken: set[str] = set()
    for k in prog.kernels:
        p = out_dir / f"{file_stem(k.name, taken)}.dot"
        p.write_text(to_dot(k))
        paths.append(p)
        if dot:
            svg = p.with_suffix(".svg")
            subprocess.run([dot, "-Tsvg", str(p), "-o", str(svg)], check=True)
            paths.append(svg)
    return paths
