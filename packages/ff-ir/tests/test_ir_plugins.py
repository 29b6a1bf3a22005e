"""Plugin discovery through entry points (the ff-fixture-plugin distribution) and duplicates."""

from __future__ import annotations

import pytest

from fuseflow.ir import plugins
from fuseflow.ir.cli import main
from fuseflow.ir.errors import PluginError
from fuseflow.ir.formats import TensorFormat
from fuseflow.ir.hookspecs import hookimpl

ff_fixture_plugin = pytest.importorskip("ff_fixture_plugin", reason="pip install -e packages/ff-ir/tests/fixture_plugin")


def test_fixture_items_are_discovered_with_their_distribution():
    for what, name in (("format", "FIXTURE_DCSC"), ("engine", "fixture-echo"), ("command", "fixture-hello")):
        entry = next(e for e in plugins.registry(what).entries() if e.name == name)
        assert entry.distribution.startswith("ff-fixture-plugin "), entry
        assert entry.plugin == "fixture"


def test_ff_plugins_lists_them(capsys):
    main(["plugins"])
    out = capsys.readouterr().out
    for name in ("FIXTURE_DCSC", "fixture-echo", "fixture-hello"):
        line = next(ln for ln in out.splitlines() if name in ln)
        assert "ff-fixture-plugin" in line


def test_fixture_hello_runs(capsys):
    main(["fixture-hello", "--name", "tests"])
    assert capsys.readouterr().out == "hello, tests, from ff-fixture-plugin\n"


def test_fixture_format_and_engine_work(spmv):
    assert plugins.lookup_format("fixture_dcsc") == TensorFormat.parse("DCSC")
    spmv.expected["y"] = "sentinel"
    result = plugins.registry("engine").get("fixture-echo").run(spmv, None, cycles=False)
    assert (result.program, result.kernels, result.outputs, result.options) == (
        "spmv", 1, {"y": "sentinel"}, {"cycles": False})


class _PluginA:
    @hookimpl
    def fuseflow_engines(self):
        return [type("E", (), {"name": "twin"})()]


class _PluginB:
    @hookimpl
    def fuseflow_engines(self):
        return [type("E", (), {"name": "twin"})()]


def test_duplicate_names_name_both_plugins():
    pm = plugins.make_plugin_manager(load_entry_points=False)
    pm.register(_PluginA(), name="alpha")
    pm.register(_PluginB(), name="beta")
    with pytest.raises(PluginError) as e:
        plugins.build_registry("engine", pm)
    msg = str(e.value)
    assert "'twin'" in msg and "'alpha'" in msg and "'beta'" in msg
