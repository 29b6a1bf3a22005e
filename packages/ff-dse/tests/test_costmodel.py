"""The cost model against the simulator: it reads the compiled graphs, so its FLOPs and bytes
follow the lowering; a change to either side that breaks the agreement fails here."""

from __future__ import annotations

import pytest
from fuseflow.dse.config import Config
from fuseflow.dse.costmodel import estimate, relative_error
from fuseflow.dse.evaluate import compile_config
from fuseflow.dse.prune import PrunePolicy, select
from fuseflow.dse.sizes import DEMO
from fuseflow.dse.studies import workload_configs
from fuseflow.sim import simulate

SMALL_GPT = (("decoders", "1"), ("seq", "64"), ("d_model", "32"), ("heads", "2"))
CONFIGS = [*workload_configs(DEMO),
           Config("gcn", "karate", fusion="full", par=(("i", 4),)),
           Config("gpt3-bigbird", None, SMALL_GPT, fusion="unfused", par=((None, 2),)),
           Config("gpt3-bigbird", None, SMALL_GPT, fusion="full", block=16),
           Config("bigbird-attention", None, (("seq", "128"), ("d_head", "16"), ("block", "16")),
                  fusion="full", block=16, par=(("i", 4),))]


@pytest.mark.parametrize("cfg", CONFIGS, ids=lambda c: c.label()[:60])
def test_estimate_agrees_with_the_simulator(cfg: Config) -> None:
    program = compile_config(cfg)
    est = estimate(program)
    sim = simulate(program, hw=cfg.hw)
    assert relative_error(est.flops, sim.flops) <= 0.03
    assert relative_error(est.bytes, sim.bytes_moved) <= 0.10
    assert [k for k, _, _ in est.kernels] == [k.name for k in sim.kernels]


def test_pruning_keeps_the_fastest_configuration_of_every_demo_workload() -> None:
    configs = workload_configs(DEMO)
    programs = {c.key(): compile_config(c) for c in configs}
    estimates = {k: estimate(p) for k, p in programs.items()}
    cycles = {k: simulate(p).cycles for k, p in programs.items()}
    kept = select(configs, dict(estimates), PrunePolicy(top_k=1, pareto=False))
    for wl in {(c.model, c.dataset, c.options) for c in configs}:
        group = [c.key() for c in configs if (c.model, c.dataset, c.options) == wl]
        best = min(group, key=lambda k: cycles[k])
        assert best in kept, wl


def test_relative_error() -> None:
    assert relative_error(110, 100) == pytest.approx(0.1)
    assert relative_error(0, 0) == 0.0
