"""``ff models`` and the plugin hooks."""

from __future__ import annotations

from fuseflow.ir.cli import build_app
from fuseflow.ir.plugins import registry
from typer.testing import CliRunner


def test_ff_models_lists_zoo_and_datasets() -> None:
    out = CliRunner().invoke(build_app(), ["models"]).output
    for word in ("gcn", "graphsage", "sae", "gpt3-bigbird", "karate", "collab", "random:nodes"):
        assert word in out


def test_ff_models_one_model() -> None:
    res = CliRunner().invoke(build_app(), ["models", "gpt3-bigbird"])
    assert res.exit_code == 0
    assert "block" in res.output and "1024" in res.output and "token" in res.output


def test_plugins_registered() -> None:
    assert "torch" in registry("frontend")
    strategies = registry("fusion strategy")
    assert {"unfused", "partial", "full"} <= set(strategies.names())
    prog = registry("frontend").get("torch").load("gcn")
    assert [g.name for g in strategies.get("partial").groups(prog.program)] == ["l1", "l2"]
    assert len(strategies.get("unfused").groups(prog.program)) == 8
