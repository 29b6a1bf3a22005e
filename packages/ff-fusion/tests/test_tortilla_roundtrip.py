"""Our own tortilla export comes back whole: the graph from the tortilla file, the tensor program
and data from its sidecar, with identical figures; --kernel cuts a multi-kernel program."""

from __future__ import annotations

from pathlib import Path

import pytest
from fuseflow.fusion.api import compile_model
from fuseflow.ir import io
from fuseflow.ir.cli import main
from fuseflow.ir.errors import IRFormatError, UnknownNameError
from fuseflow.sim import simulate


def _figures(p: object) -> tuple[int, int, int]:
    r = simulate(p, check=True)  # type: ignore[arg-type]
    assert r.check == "pass", r.first_mismatch
    return r.cycles, r.flops, r.bytes_moved


def test_exported_tortilla_reimports_with_identical_figures(tmp_path: Path) -> None:
    prog = compile_model("gcn", {}, "karate", "full").program
    io.save(prog, tmp_path / "g.tortilla")
    back = io.load(tmp_path / "g.tortilla")
    assert _figures(back) == _figures(prog)


def test_kernel_option_cuts_a_multi_kernel_program(tmp_path: Path) -> None:
    prog = compile_model("gcn", {}, "karate", "partial").program
    src = tmp_path / "g.ffir"
    io.save(prog, src)
    with pytest.raises(IRFormatError, match="--kernel"):
        io.save(prog, tmp_path / "all.tortilla")
    names = [k.name for k in prog.kernels]
    for name in names:
        try:
            main(["ir", "convert", str(src), str(tmp_path / f"{name}.tortilla"), "--kernel", name])
        except SystemExit as e:
            assert not e.code
    first = io.load(tmp_path / f"{names[0]}.tortilla")
    assert [k.name for k in first.kernels] == [names[0]]
    assert _figures(first)[0] == simulate(prog).kernels[0].cycles
    with pytest.raises(UnknownNameError, match="kernels:"):
        prog.only_kernel("nope")


def test_data_dir_feeds_converted_copies_from_their_source_files(tmp_path: Path) -> None:
    """GCN reads its weights through transposed views: the SAM folder holds only the sources."""
    from fuseflow.ir import samdata

    prog = compile_model("gcn", {}, "karate", "partial").program
    views = [t for k in prog.kernels for t in k.inputs if prog.program.tensors[t].view_of]
    assert views, "the program reads no converted copy"
    folder = tmp_path / "sam"
    for name, td in prog.data.items():
        samdata.write_tensor(folder, name, td, prog.program.tensors[name].format)
    expected = _figures(prog)
    prog.data = {}
    io.save(prog, tmp_path / "g.ffir")
    try:
        main(["sim", str(tmp_path / "g.ffir"), "--data-dir", str(folder), "--check"])
    except SystemExit as e:
        assert not e.code
    from fuseflow.sim.cli import _load_data_dir

    again = io.load(tmp_path / "g.ffir")
    _load_data_dir(again, folder)
    assert _figures(again) == expected
