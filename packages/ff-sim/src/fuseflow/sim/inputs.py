"""Input data of a program run: recorded data, or seeded random values on request."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from fuseflow.ir.data import TensorData
from fuseflow.ir.dataflow import Program
from fuseflow.ir.errors import SimulationError, memory_guard
from fuseflow.ir.program import TensorDecl

DEFAULT_DENSITY = 0.1


def tensors_read(program: Program) -> list[str]:
    """Tensors kernels read before any kernel writes them (inputs and parameters)."""
    from fuseflow.sim.kernel import READERS, WRITERS

    written: set[str] = set()
    needed: list[str] = []
    for k in program.kernels:
        nodes = k.graph.nodes.values()
        for n in nodes:
            t = n.attrs.tensor
            if n.kind in READERS and t is not None and t not in written and t not in needed:
                needed.append(t)
        written.update(n.attrs.tensor for n in nodes if n.kind in WRITERS and n.attrs.tensor)
        written.update(k.outputs)
    return needed


def random_tensor(decl: TensorDecl, rng: np.random.Generator, density: float) -> TensorData:
    """Values uniform in [-1, 1); a sparse format keeps about ``density`` of its entries
    (blocks when blocked); a dense format keeps all."""
    shape, fmt = decl.shape, decl.format
    vals = rng.uniform(-1.0, 1.0, size=shape).astype(np.float32)
    if fmt.is_dense or not shape:
        return TensorData.from_dense(vals)
    block = fmt.block or (1,) * len(shape)
    bshape = tuple(n // b for n, b in zip(shape, block, strict=True))
    mask = rng.random(bshape) < density
    for ax, b in enumerate(block):
        mask = np.repeat(mask, b, axis=ax)
    return TensorData.from_dense(np.where(mask, vals, np.float32(0.0)))


def prepare_inputs(program: Program, random_inputs: int | None,
                   density: float | None = None) -> tuple[dict[str, TensorData], tuple[str, ...]]:
    """The starting environment and the names given random values."""
    env = dict(program.data)
    made: list[str] = []
    rng = np.random.default_rng(random_inputs) if random_inputs is not None else None
    for name in tensors_read(program):
        if name in env or program.program.tensor(name).view_of is not None:
            continue  # a view is resolved from its source when a kernel reads it
        if rng is None:
            raise SimulationError(f"no data for input tensor {name!r} (give its data, or use random inputs: "
                f"simulate(..., random_inputs=SEED) / ff sim --random-inputs SEED)")
        decl = program.program.tensor(name)
        with memory_guard(f"making random input {name} {list(decl.shape)}"):
            env[name] = random_tensor(decl, rng, density or DEFAULT_DENSITY)
        made.append(name)
    return env, tuple(made)


def with_view_sources(program: Program, names: Iterable[str]) -> list[str]:
    """``names`` and, after each, the tensors its view is resolved from (each once)."""
    out: list[str] = []
    for name in names:
        chain = [name]
        while (base := program.program.tensor(chain[-1]).view_of) is not None and base not in chain:
            chain.append(base)
        out.extend(n for n in chain if n not in out)
    return out
