"""The example graphs saved as .fftxt load back and simulate exactly like the originals
(density 0.7: no empty rows, see the SDDMM limitation in docs/simulator.md)."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuseflow.sim import simulate

from .make_graphs import GRAPHS

HERE = Path(__file__).parent / "graphs"


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_fftxt_round_trip(name):
    from fuseflow.ir import io

    path = HERE / f"{name}.fftxt"
    assert path.exists(), "run tests/make_graphs.py"
    loaded = io.load(path)
    a = simulate(loaded, random_inputs=5, density=0.7)
    b = simulate(GRAPHS[name](), random_inputs=5, density=0.7)
    assert a.cycles == b.cycles and a.flops == b.flops and a.bytes_moved == b.bytes_moved
    for t, td in b.outputs.items():
        assert (loaded.program.tensors[t].shape == td.shape)
