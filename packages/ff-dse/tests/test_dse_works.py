"""`ff dse` as a new user runs it: real sweeps with no failures, truthful exit codes, validated
options, workers that die with the sweep, and two sweeps sharing one store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from fuseflow.dse.config import Config
from fuseflow.dse.evaluate import evaluate, knob_problem
from fuseflow.dse.result import Status
from fuseflow.dse.space import build_space
from fuseflow.dse.store import Store
from fuseflow.ir.cli import main

FF = Callable[..., tuple[int, str]]  # the ff_cli fixture (conftest.py)


def test_readme_sweep_on_karate_has_no_failures(tmp_path: Path, ff_cli: FF) -> None:
    code, out = ff_cli("dse", "gcn", "--dataset", "karate", "--store", str(tmp_path / "s.sqlite"),
                    "--no-progress", "--workers", "2", "--set", "par=none,*:4")
    assert code == 0, out
    assert " 0 failed" in out and " 0 invalid" in out, out
    assert "par=*:4" in out  # the table carries the knobs
    with Store(tmp_path / "s.sqlite") as st:
        rs = st.results()
    assert len(rs) == 6 and all(r.ok for r in rs), [r.error for r in rs]


def test_block_is_declared_only_for_models_that_tile_values() -> None:
    assert build_space("gcn").get("block") == (None,)
    assert 16 in build_space("gpt3-bigbird").get("block")


def test_invalid_knobs_are_recorded_not_simulated() -> None:
    small = (("decoders", "1"), ("seq", "32"), ("d_model", "16"), ("heads", "2"))
    problem = knob_problem(Config("gpt3-bigbird", None, small, block=64))
    assert problem and "does not divide seq 32" in problem
    # par 4 over 2 heads: the compiler says why, the sweep records it as invalid
    r = evaluate(Config("gpt3-bigbird", None, small, fusion="unfused", par=((None, 4),)))
    assert r.status is Status.INVALID and "only 2 coordinates" in r.error, r.error


@pytest.mark.parametrize("args", [["nosuchmodel"], ["gcn", "--dataset", "nosuch"], ["sae", "--dataset", "karate"],
                                  ["gcn", "-m", "nope=1"]])
def test_missing_workload_exits_nonzero_before_sweeping(tmp_path: Path, args: list[str], ff_cli: FF) -> None:
    code, out = ff_cli("dse", *args, "--store", str(tmp_path / "s.sqlite"), "--no-progress")
    assert code != 0, out
    with Store(tmp_path / "s.sqlite") as st:
        assert st.results() == []


@pytest.mark.parametrize(("option", "value"), [("--keep", "-1"), ("--workers", "-1"), ("--budget", "0")])
def test_numeric_options_are_usage_errors(tmp_path: Path, option: str, value: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["dse", "gcn", option, value, "--store", str(tmp_path / "s.sqlite")])
    assert exc.value.code == 2
    assert option in capsys.readouterr().err


def test_report_of_a_file_that_is_not_a_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bogus = tmp_path / "README.md"
    bogus.write_text("# not a database\n" * 100)
    with pytest.raises(SystemExit) as exc:
        main(["dse", "report", str(bogus)])
    assert exc.value.code == 2
    assert "not a FuseFlow results store" in capsys.readouterr().err


def test_yaml_space_file(tmp_path: Path) -> None:
    space = tmp_path / "space.yaml"
    space.write_text("fusion: [unfused, full]\npar: [none]\n")
    sp = build_space("gcn", space_file=space, datasets=["karate"])
    assert sp.get("fusion") == ("unfused", "full") and sp.size() == 2


def _synthetic_sweep(db: Path, log: Path, delay: float = 0.3) -> tuple[list[str], dict[str, str]]:
    return [sys.executable, "-c", "from fuseflow.ir.cli import main; main()", "dse", "gcn",
            "--evaluator", "synthetic", "--store", str(db), "--workers", "2", "--no-progress", "--only-named",
            "-m", f"delay={delay}", *[a for i in range(4) for a in ("-d", f"g{i}")]], \
        dict(os.environ, FF_DSE_SYNTH_LOG=str(log))


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def _alive(pid: int) -> bool:
    try:
        state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_kill_9_of_the_sweep_leaves_no_process(tmp_path: Path) -> None:
    argv, env = _synthetic_sweep(tmp_path / "k.sqlite", tmp_path / "k.log", delay=2.0)
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 60
        kids: set[int] = set()
        while time.time() < deadline and len(kids) < 3:  # two workers and the resource tracker
            time.sleep(0.2)
            kids = _descendants(proc.pid)
        assert len(kids) >= 2, "the pool never started"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        deadline = time.time() + 15
        while time.time() < deadline and any(_alive(k) for k in kids):
            time.sleep(0.2)
        assert not [k for k in kids if _alive(k)], "processes outlived the killed sweep"
    finally:
        for k in _descendants(proc.pid):
            os.kill(k, signal.SIGKILL)


def test_two_sweeps_on_one_store_share_the_work(tmp_path: Path) -> None:
    db = tmp_path / "shared.sqlite"
    a_argv, a_env = _synthetic_sweep(db, tmp_path / "a.log")
    b_argv, b_env = _synthetic_sweep(db, tmp_path / "b.log")
    a = subprocess.Popen(a_argv, env=a_env, stdout=subprocess.PIPE, text=True)
    time.sleep(1.0)
    b = subprocess.run(b_argv, env=b_env, stdout=subprocess.PIPE, text=True, timeout=300)
    a_out, _ = a.communicate(timeout=300)
    assert a.returncode == 0 and b.returncode == 0, (a_out, b.stdout)
    done_a = (tmp_path / "a.log").read_text().split()
    done_b = (tmp_path / "b.log").read_text().split() if (tmp_path / "b.log").exists() else []
    assert len(done_a) + len(done_b) == 12, (done_a, done_b)  # 4 data sets x 3 fusions, each once
    assert not set(done_a) & set(done_b)
    with Store(db) as st:
        assert len(st.done_keys()) == 12
