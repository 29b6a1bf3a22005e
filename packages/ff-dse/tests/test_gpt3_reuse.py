"""Kernel-level reuse on a small GPT-3 (3 decoders): simulated with reuse on and off, the
cycles, counters and per-kernel / per-primitive figures are identical, the outputs of both
runs match eager PyTorch, and the decoders after the first reuse the first one's kernels."""

from __future__ import annotations

import numpy as np
import pytest
from fuseflow.dse.config import Config
from fuseflow.dse.evaluate import compile_config, evaluate
from fuseflow.sim import simulate

OPTS = (("decoders", "3"), ("seq", "32"), ("d_model", "16"), ("heads", "2"), ("block", "16"))


@pytest.mark.parametrize("fusion", ["unfused", "partial", "full"])
def test_reuse_on_and_off_give_the_same_figures(fusion: str) -> None:
    program = compile_config(Config("gpt3-bigbird", None, OPTS, fusion=fusion))
    on = simulate(program, check=True)
    off = simulate(program, check=True, engine_options={"reuse": False})
    assert off.reused == {} and on.reused
    assert on.cycles == off.cycles and on.counters == off.counters and on.per_primitive == off.per_primitive
    for a, b in zip(on.kernels, off.kernels, strict=True):
        assert (a.name, a.cycles, a.flops, a.bytes_moved, a.counters, a.per_primitive) == \
            (b.name, b.cycles, b.flops, b.bytes_moved, b.counters, b.per_primitive)
    for r in (on, off):  # both close to eager PyTorch
        assert r.check == "pass" and "PyTorch" in r.check_note
    for name, t in off.outputs.items():
        np.testing.assert_allclose(on.outputs[name].to_dense(), t.to_dense(), rtol=1e-3, atol=1e-4)
    # every reused kernel reuses one simulated earlier, never itself
    order = [k.name for k in on.kernels]
    assert all(order.index(src) < order.index(k) for k, src in on.reused.items())
    if fusion == "full":  # pre, attn, boundary, attn, boundary, attn, post: decoders 2 and 3 reuse
        assert on.reused == {order[3]: order[1], order[4]: order[2], order[5]: order[1]}
    else:  # each decoder compiles to its own kernels: all of decoders 2 and 3 are reused
        assert len(on.reused) >= 2 * len(order) // 3 - 1


def test_the_dse_uses_reuse_and_keeps_the_figures() -> None:
    cfg = Config("gpt3-bigbird", None, OPTS, fusion="full")
    r = evaluate(cfg)
    program = compile_config(cfg)
    off = simulate(program, check=True, engine_options={"reuse": False})
    assert r.ok and r.cycles == off.cycles and r.reused_kernels == 3
    assert type(r).from_dict(r.to_dict()).reused_kernels == 3  # kept in the store
    assert [c for _, c in r.kernel_cycles] == [k.cycles for k in off.kernels]
