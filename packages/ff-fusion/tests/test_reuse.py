"""Groups equal up to tensor names are lowered once and copied with the tensors renamed:
the program must be exactly what lowering every group gives."""

from __future__ import annotations

import pytest
from fuseflow.fusion.api import capture
from fuseflow.fusion.compile import compile_program, default_passes
from fuseflow.ir import io

GPT = {"decoders": "3", "seq": "32", "d_model": "16", "heads": "2", "block": "8", "ffn": "32"}


def _compile(fusion: str, block: int | None, reuse: bool):
    prog = capture("gpt3-bigbird", GPT, None, fusion)
    return compile_program(prog, None, passes=default_passes(), block=block, reuse=reuse)


@pytest.mark.parametrize(("fusion", "block"), [("partial", None), ("full", 8), ("unfused", None)])
def test_reused_groups_give_the_same_program(fusion, block):
    fresh, reused = _compile(fusion, block, False), _compile(fusion, block, True)
    assert io.to_text(reused.program) == io.to_text(fresh.program)
    assert [(r.group, r.expressions, r.outputs, r.order, r.counts, r.materialized, r.recomputed)
            for r in reused.reports] == [(r.group, r.expressions, r.outputs, r.order, r.counts,
                                          r.materialized, r.recomputed) for r in fresh.reports]
    # later decoders reuse earlier ones: their kernels name their own tensors
    names = [k.name for k in reused.program.kernels]
    assert len(set(names)) == len(names)
    for k in reused.program.kernels:
        tensors = {n.attrs.tensor for n in k.graph.nodes.values() if n.attrs.tensor}
        assert all(t in reused.program.program.tensors for t in tensors)
