"""EngineOptions: one typed, validated object for the fast engine's settings, filled by
``ff sim`` flags and the Python API (no FUSEFLOW_* environment variables)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from fuseflow.ir import examples as ex
from fuseflow.ir import io
from fuseflow.ir.errors import UsageError
from fuseflow.sim import simulate
from fuseflow.sim.options import EngineOptions, apply_compile_settings

SRC = Path(__file__).resolve().parents[1] / "src"


def test_defaults_and_frozen() -> None:
    o = EngineOptions()
    assert (o.queue_capacity, o.queue_grown, o.threads) == (1 << 14, 1 << 18, 2)
    assert not o.profile and o.jit is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.threads = 1  # type: ignore[misc]  # frozen: the assignment must fail


@pytest.mark.parametrize(("kw", "match"), [
    ({"queue_capacity": 0}, r"queue_capacity \(--queue-capacity\) must be >= 1"),
    ({"queue_grown": -1}, r"queue_grown \(--queue-grown\) must be >= 1"),
    ({"threads": 0}, r"threads \(--threads\) must be between 1 and 64"),
    ({"threads": 65}, r"between 1 and 64, got 65"),
    ({"threads": 1.5}, r"threads \(--threads\) must be an integer"),
    ({"threads": True}, r"must be an integer"),
    ({"profile": 1}, r"profile \(--profile\) must be true or false"),
    ({"jit": "no"}, r"jit \(--no-jit\) must be true or false"),
])
def test_bad_values_are_usage_errors(kw: dict, match: str) -> None:
    with pytest.raises(UsageError, match=match) as e:
        EngineOptions(**kw)
    assert e.value.exit_code == 2


def test_a_dict_is_accepted_and_unknown_keys_named() -> None:
    assert EngineOptions.of({"threads": 1}) == EngineOptions(threads=1)
    assert EngineOptions.of(None) == EngineOptions()
    with pytest.raises(UsageError, match="unknown engine option.*queue_cap\\b"):
        EngineOptions.of({"queue_cap": 3})
    with pytest.raises(UsageError, match="unknown engine option"):
        simulate(ex.spmv(), random_inputs=1, engine_options={"nope": 1})


def test_options_reach_the_engine_and_do_not_change_figures(capsys: pytest.CaptureFixture[str]) -> None:
    prog = ex.spmv(40, 30)
    ref = simulate(prog, engine="reference", random_inputs=2, density=0.5)
    runs = [EngineOptions(), EngineOptions(threads=1, queue_capacity=2, queue_grown=2),
            EngineOptions(threads=3, queue_capacity=1, queue_grown=1 << 30)]
    for o in runs:
        got = simulate(prog, engine="fast", random_inputs=2, density=0.5, engine_options=o)
        assert (got.cycles, got.counters, got.per_primitive) == (ref.cycles, ref.counters, ref.per_primitive)
    capsys.readouterr()
    simulate(prog, engine="fast", random_inputs=2, engine_options=EngineOptions(show_queues=True))
    assert "stream: spmv biggest queues" in capsys.readouterr().out
    simulate(prog, engine="fast", random_inputs=2, engine_options=EngineOptions(profile=True))
    assert "fast: spmv" in capsys.readouterr().err


def test_the_tiny_queues_are_the_ones_used() -> None:
    from fuseflow.sim.fast.stream import engine as stream

    stream.STATS["largest queue"] = 0
    simulate(ex.spmv(40, 30), engine="fast", random_inputs=2, density=0.5,
             engine_options=EngineOptions(queue_capacity=4, queue_grown=4))
    small = stream.STATS["largest queue"]
    stream.STATS["largest queue"] = 0
    simulate(ex.spmv(40, 30), engine="fast", random_inputs=2, density=0.5)
    assert small < stream.STATS["largest queue"] == 1 << 14


def test_compile_settings_conflict_after_the_loops_loaded() -> None:
    simulate(ex.spmv(), random_inputs=1)  # loads the compiled loops (jit on, no bounds checks)
    apply_compile_settings(EngineOptions())  # None: as loaded
    apply_compile_settings(EngineOptions(jit=True, boundscheck=False))
    with pytest.raises(UsageError, match="already compiled in this process with jit=True, boundscheck=False"):
        simulate(ex.spmv(), random_inputs=1, engine_options=EngineOptions(boundscheck=True))


def test_cli_flags(tmp_path: Path) -> None:
    """In a fresh process each: --no-jit and --boundscheck fix how the loops compile."""
    path = tmp_path / "p.fftxt"
    io.save(ex.spmv(8, 8), path)
    code = ("import sys; from fuseflow.ir.cli import main; sys.argv = ['ff'] + sys.argv[1:]; main()")

    def ff(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=300)

    r = ff("sim", str(path), "--random-inputs", "1", "--threads", "0")
    assert r.returncode == 2 and "threads (--threads) must be between 1 and 64, got 0" in r.stderr
    r = ff("sim", str(path), "--random-inputs", "1", "--queue-capacity", "0")
    assert r.returncode == 2 and "--queue-capacity" in r.stderr
    r = ff("sim", str(path), "--random-inputs", "1", "--threads", "1", "--queue-capacity", "3", "--queue-grown", "3",
           "--show-queues", "--json")
    assert r.returncode == 0, r.stderr
    assert "stream: spmv biggest queues" in r.stdout
    r = ff("sim", str(path), "--random-inputs", "1", "--no-jit", "--json")
    assert r.returncode == 0, r.stderr


def test_no_fuseflow_environment_variables_left() -> None:
    """Settings come in EngineOptions only: nothing in the sources reads FUSEFLOW_* any more."""
    hits = [p for p in SRC.rglob("*.py") if "FUSEFLOW_" in p.read_text(encoding="utf-8")]
    assert hits == []


@pytest.mark.parametrize("engine", ["fast", "reference"])
def test_without_intermediates_only_the_programs_outputs_are_kept(engine: str) -> None:
    import torch
    from fuseflow.frontend.capture import capture
    from fuseflow.fusion.api import compile_captured

    class TwoLayers(torch.nn.Module):
        def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
            h = torch.relu(x @ w)
            return torch.relu(h @ w.T) + (h.T @ x).sum()  # h.T: a view of h read by a later kernel

    g = torch.Generator().manual_seed(0)
    prog = compile_captured(capture(TwoLayers(), (torch.randn(6, 5, generator=g), torch.randn(5, 4, generator=g)),
                                    fusion="unfused")).program
    assert len(prog.kernels) >= 3
    full = simulate(prog, engine=engine, check=True)
    lean = simulate(prog, engine=engine, check=True, engine_options={"intermediates": False})
    assert set(full.outputs) > set(prog.program.outputs) and set(lean.outputs) == set(prog.program.outputs)
    assert lean.cycles == full.cycles and lean.check == full.check == "pass"
    for name in prog.program.outputs:
        assert lean.outputs[name] == full.outputs[name]
