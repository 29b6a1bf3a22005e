"""`ff sim` and `ff show` on files nobody here wrote: verified before simulating, numeric options
checked, and names from the file never reach the filesystem unsanitized."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuseflow.ir import examples, io
from fuseflow.ir.cli import main


def _exit(args: list[str]) -> int:
    with pytest.raises(SystemExit) as e:
        main(args)
    return int(e.value.code or 0)


def _saved(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "p.fftxt"
    p.write_text(text)
    return p


def test_sim_rejects_what_validate_rejects(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = io.to_text(examples.spmv())
    line = next(ln for ln in text.splitlines() if ln.strip().startswith("stream 0 "))
    dup = text.replace(line + "\n", line + "\n" + line.replace("stream 0 ", "stream 99 ") + "\n")
    p = _saved(tmp_path, dup)
    assert _exit(["ir", "validate", str(p)]) == 3
    assert _exit(["sim", str(p), "--random-inputs", "1"]) == 3
    assert "writers" in capsys.readouterr().err
    # a stream to a node that does not exist: a clear error, not KeyError
    missing = text.replace(line, line.split("->")[0] + "-> 77.ref")
    p2 = _saved(tmp_path, missing)
    assert _exit(["sim", str(p2), "--random-inputs", "1"]) not in (0, 70)


def test_no_verify_skips_the_check(tmp_path: Path) -> None:
    p = tmp_path / "ok.ffir"
    io.save(examples.spmv(), p)
    main_ok = ["sim", str(p), "--no-verify", "--hw", "no-hbm", "--random-inputs", "1"]
    try:
        main(main_ok)
    except SystemExit as e:
        assert not e.code


@pytest.mark.parametrize("args", [["--channel-depth", "-1"], ["--hw", "nosuch"], ["--random-inputs", "-1"]])
def test_bad_sim_options_are_usage_errors(tmp_path: Path, args: list[str]) -> None:
    p = tmp_path / "ok.ffir"
    io.save(examples.spmv(), p)
    assert _exit(["sim", str(p), *args]) == 2


@pytest.mark.parametrize(("args", "named"), [
    (["-m", "heads=0"], "-m heads=0"), (["-m", "heads=two"], "-m heads=two"), (["--block", "abc"], "--block"),
    (["--block", "0"], "--block 0"), (["--block", "-4"], "--block -4"), (["--par", "i:0"], "--par"),
    (["--order", "list", "--limit", "-1"], "--limit -1")])
def test_bad_compile_options_are_usage_errors(args: list[str], named: str,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert _exit(["compile", "gpt3-bigbird", *args]) == 2
    cap = capsys.readouterr()
    assert named in cap.out + cap.err and "internal error" not in cap.out + cap.err


def test_show_dot_keeps_kernel_names_inside_out(tmp_path: Path) -> None:
    prog = examples.spmv()
    k = prog.kernels[0]
    evil = "/tmp/../" + str(tmp_path / "outside") + '"x'
    k.name = evil
    k.graph.name = evil
    p = tmp_path / "evil.ffir"
    io.save(prog, p)
    out = tmp_path / "dots"
    try:
        main(["show", str(p), "--format", "dot", "--out", str(out)])
    except SystemExit as e:
        assert not e.code
    written = list(out.iterdir())
    assert written and all(w.parent == out for w in written)
    assert not (tmp_path / "outside.dot").exists()
    text = next(w for w in written if w.suffix == ".dot").read_text()
    assert '\\"x' in text  # the quote is escaped inside the DOT string


def test_cold_start_is_announced_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from fuseflow.sim.fast import warmup

    monkeypatch.setattr(warmup, "cache_is_warm", lambda: False)
    monkeypatch.setattr(warmup, "_ANNOUNCED", False)
    said: list[str] = []
    warmup.announce_cold_start(said.append)
    warmup.announce_cold_start(said.append)
    assert len(said) == 1 and "ff sim --warmup" in said[0]


def test_sim_without_a_program_is_a_usage_error() -> None:
    assert _exit(["sim"]) == 2


def test_data_dir_feeds_a_converted_copy_from_its_source(tmp_path: Path) -> None:
    """The kernels read a unique-level copy of the COO input ``s``; the SAM folder holds ``s``."""
    import torch
    from fuseflow.frontend.capture import capture
    from fuseflow.fusion.api import compile_captured
    from fuseflow.ir import samdata

    class SparseSoftmax(torch.nn.Module):
        def forward(self, s: torch.Tensor) -> torch.Tensor:
            return torch.sparse.softmax(s, dim=1).to_dense()

    g = torch.Generator().manual_seed(4)
    x = (torch.randn(6, 5, generator=g) * (torch.rand(6, 5, generator=g) < 0.5)).to_sparse_coo()
    compiled = compile_captured(capture(SparseSoftmax(), (x,), name="ss", fusion="unfused")).program
    from fuseflow.sim.inputs import tensors_read

    assert "s" not in tensors_read(compiled)  # only its copy is read
    folder = tmp_path / "data"
    folder.mkdir()
    samdata.write_tensor(folder, "s", compiled.data["s"], compiled.program.tensor("s").format)
    expected = simulate_outputs(compiled)
    compiled.data.clear()
    p = tmp_path / "ss.ffir"
    io.save(compiled, p)
    try:
        main(["sim", str(p), "--data-dir", str(folder)])
    except SystemExit as e:
        assert not e.code
    from fuseflow.ir.io import load
    from fuseflow.sim.cli import _load_data_dir

    again = load(p)
    _load_data_dir(again, folder)
    assert simulate_outputs(again) == expected


def simulate_outputs(prog: object) -> dict[str, list[float]]:
    from fuseflow.sim import simulate

    res = simulate(prog, engine="reference")  # type: ignore[arg-type]
    return {k: [round(float(v), 6) for v in d.to_dense().reshape(-1)] for k, d in res.outputs.items()}


def test_numba_cache_follows_every_source_of_the_loops(tmp_path, monkeypatch):
    """The compiled loops are cached per version of all the fast engine's sources: numba
    itself checks only a function's own file, so an edited inlined helper (jitmem.py) once
    left stale step functions in use (a cycles mismatch until the cache was removed)."""
    from fuseflow.sim.fast.jit import CACHE_DIR, cache_dir

    monkeypatch.delenv("NUMBA_CACHE_DIR", raising=False)
    (tmp_path / "stream").mkdir()
    (tmp_path / "jitmem.py").write_text("x = 1\n")
    (tmp_path / "stream" / "scan.py").write_text("y = 2\n")
    before = cache_dir(tmp_path)
    assert cache_dir(tmp_path) == before
    (tmp_path / "jitmem.py").write_text("x = 2\n")  # a helper changes, the step function's file does not
    assert cache_dir(tmp_path) != before
    monkeypatch.setenv("NUMBA_CACHE_DIR", str(tmp_path / "nb"))
    assert cache_dir(tmp_path).startswith(str(tmp_path / "nb"))
    from numba.core import config

    assert config.CACHE_DIR == CACHE_DIR
