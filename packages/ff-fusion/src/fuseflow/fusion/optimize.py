"""The optimization passes' knobs and their construction from compile options."""

from __future__ import annotations

from fuseflow.fusion.passes import Knob


def knobs() -> list[Knob]:
    from fuseflow.fusion.compile import BLOCK_SIZES
    from fuseflow.fusion.passes.parallelize import Parallelize

    # blocking is done by the lowering itself (tiles), so its knob is declared beside it
    return [*Parallelize.knobs(), Knob("block", BLOCK_SIZES, "BxB value tiles for block-structured tensors"),
            Knob("order", (None,), "dataflow order (index or list)")]


def optimization_passes(par: list[tuple[str, int]], block: int | None) -> list[object]:
    from fuseflow.fusion.passes.parallelize import Parallelize, ParallelizeNest

    if len(par) == 1:
        return [Parallelize(index=par[0][0], factor=par[0][1])]
    return [ParallelizeNest(requests=tuple(par))] if par else []
