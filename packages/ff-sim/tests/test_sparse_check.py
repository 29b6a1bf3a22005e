"""Expected outputs stay sparse end to end: ``ff compile`` stores them in the output's
format, ``--check`` compares sparse against sparse; old IR files with dense expected
outputs still check; running out of memory is a clear error (exit 7)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from fuseflow.ir import io
from fuseflow.ir.data import TensorData
from fuseflow.ir.errors import OutOfMemoryError
from fuseflow.sim.check import compare

MODEL = textwrap.dedent('''
    import os
    import torch
    from fuseflow.frontend.annotation import annotate


    class SpGEMM(torch.nn.Module):
        def forward(self, a, b):
            return annotate(annotate(a, "CSR") @ annotate(b, "CSR"), os.environ.get("OUTFMT", "CSR"))


    def factory():
        n = int(os.environ.get("N", "40"))
        g = torch.Generator().manual_seed(0)

        def rnd():
            idx = torch.randint(0, n, (2, 2 * n), generator=g)
            return torch.sparse_coo_tensor(idx, torch.randn(2 * n, generator=g), (n, n)).coalesce()

        return SpGEMM(), (rnd(), rnd())
''')


def coo(shape: tuple[int, ...], entries: dict[tuple[int, ...], float], dtype: type = np.float32) -> TensorData:
    keys = sorted(entries)
    coords = np.array(keys, dtype=np.int64).T.reshape(len(shape), -1)
    return TensorData(shape, coords=coords, values=np.array([entries[k] for k in keys], dtype=dtype))


# ---- compare: sparse against sparse -------------------------------------------------

def test_sparse_equal_passes_and_a_value_off_fails() -> None:
    want = coo((1000, 1000), {(0, 3): 1.0, (999, 999): -2.0})
    assert compare({"C": coo((1000, 1000), {(0, 3): 1.0, (999, 999): -2.0})}, {"C": want}).status == "pass"
    rep = compare({"C": coo((1000, 1000), {(0, 3): 1.0, (999, 999): -2.5})}, {"C": want})
    assert rep.status == "fail"
    assert rep.first_mismatch == {"tensor": "C", "index": [999, 999], "got": -2.5, "expected": -2.0}


def test_a_coordinate_on_one_side_only_fails_unless_it_holds_zero() -> None:
    want = coo((50, 60), {(1, 2): 3.0})
    extra = coo((50, 60), {(1, 2): 3.0, (40, 59): 0.5})
    rep = compare({"C": extra}, {"C": want})
    assert rep.status == "fail" and rep.first_mismatch["index"] == [40, 59]
    assert rep.first_mismatch["expected"] == 0.0
    missing = coo((50, 60), {})
    assert compare({"C": missing}, {"C": want}).first_mismatch["index"] == [1, 2]
    explicit_zero = coo((50, 60), {(1, 2): 3.0, (7, 7): 0.0})  # a stored 0 is not a difference
    assert compare({"C": explicit_zero}, {"C": want}).status == "pass"


def test_tolerance_float32_against_float64_reference() -> None:
    want = coo((4, 4), {(0, 0): 1.0, (3, 3): 1e-3}, dtype=np.float64)
    near = coo((4, 4), {(0, 0): 1.0 + 5e-5, (3, 3): 1e-3})  # within rtol 1e-4
    assert compare({"C": near}, {"C": want}).status == "pass"
    far = coo((4, 4), {(0, 0): 1.0 + 5e-4, (3, 3): 1e-3})
    assert compare({"C": far}, {"C": want}).status == "fail"


def test_an_output_may_be_as_far_off_as_pytorchs_own_float32_allows() -> None:
    # a softmax over logits in the thousands: float32 PyTorch is itself ~1e-4 from float64
    want = TensorData.from_dense(np.array([[0.5225010, 0.4774990]], np.float32))
    got = TensorData.from_dense(np.array([[0.5223792, 0.4776208]], np.float32))
    assert compare({"C": got}, {"C": want}).status == "fail"
    assert compare({"C": got}, {"C": want}, {"C": 4 * 1e-5}).status == "fail"  # too small an allowance
    assert compare({"C": got}, {"C": want}, {"C": 4 * 1.2e-4}).status == "pass"


def test_repeated_coordinates_add_up_and_nan_matches_nan() -> None:
    dup = TensorData((3, 3), coords=np.array([[1, 1], [2, 2]]), values=np.array([1.0, 2.0], np.float32))
    assert compare({"C": dup}, {"C": coo((3, 3), {(1, 2): 3.0})}).status == "pass"
    nan = coo((3, 3), {(0, 1): float("nan")})
    assert compare({"C": nan}, {"C": coo((3, 3), {(0, 1): float("nan")})}).status == "pass"
    assert compare({"C": coo((3, 3), {(0, 1): 1.0})}, {"C": nan}).status == "fail"


def test_dense_against_sparse_either_way() -> None:
    dense = np.zeros((5, 7), np.float32)
    dense[2, 3] = 4.0
    sparse = coo((5, 7), {(2, 3): 4.0})
    assert compare({"C": TensorData.from_dense(dense)}, {"C": sparse}).status == "pass"
    assert compare({"C": sparse}, {"C": TensorData.from_dense(dense)}).status == "pass"
    dense[4, 6] = 1.0
    rep = compare({"C": sparse}, {"C": TensorData.from_dense(dense)})
    assert rep.first_mismatch == {"tensor": "C", "index": [4, 6], "got": 0.0, "expected": 1.0}


def test_shape_of_a_different_size_fails() -> None:
    rep = compare({"C": coo((4, 4), {})}, {"C": coo((4, 5), {})})
    assert rep.status == "fail" and "shape" in rep.first_mismatch["problem"]


def test_compare_never_densifies_a_sparse_output() -> None:
    """A 10^6 x 10^6 output (4 TB dense) with three entries compares in a blink."""
    n = 1_000_000
    want = coo((n, n), {(0, 0): 1.0, (n - 1, 5): 2.0, (123456, 654321): 3.0})
    got = coo((n, n), {(0, 0): 1.0, (n - 1, 5): 2.0, (123456, 654321): 3.0001})
    rep = compare({"C": got}, {"C": want})
    assert rep.status == "pass" and 0 < rep.max_rel_error < 1e-4


# ---- end to end: ff compile stores the expected output sparse; old files still check -----

def ff(*args: str, env: dict[str, str] | None = None, limit: int | None = None,
       cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``ff ARGS`` in a subprocess (``limit``: RLIMIT_AS in bytes)."""
    pre = ""
    if limit is not None:
        pre = f"import resource; resource.setrlimit(resource.RLIMIT_AS, ({limit}, {limit})); "
    code = pre + "import sys; from fuseflow.ir.cli import main; sys.argv = ['ff'] + sys.argv[1:]; main()"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, **(env or {})), timeout=600)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("spgemm")
    (d / "spgemm.py").write_text(MODEL)
    r = ff("compile", "spgemm.py:factory", "-o", "p.ffir", cwd=d)
    assert r.returncode == 0, r.stderr
    return d / "p.ffir"


def test_compile_stores_the_expected_output_in_its_sparse_format(compiled: Path) -> None:
    with np.load(io.data_dir(compiled) / "expected" / "mm.npz") as z:
        assert sorted(z.files) == ["coords", "shape", "values"]
        coords, values = z["coords"], z["values"]
    assert coords.shape[0] == 2 and 0 < values.size < 40 * 40 // 2
    assert np.all(values != 0)
    prog = io.load(compiled)
    assert prog.expected["mm"].dense is None and prog.program.tensor("mm").format.spec() != "dd"
    r = ff("sim", str(compiled), "--check")
    assert r.returncode == 0, r.stderr
    assert "check: pass" in r.stdout


def test_a_dense_format_output_stays_dense(tmp_path: Path) -> None:
    (tmp_path / "spgemm.py").write_text(MODEL)
    r = ff("compile", "spgemm.py:factory", "-o", "d.ffir", cwd=tmp_path, env={"OUTFMT": "dense"})
    assert r.returncode == 0, r.stderr
    prog = io.load(tmp_path / "d.ffir")
    assert prog.expected["mm"].dense is not None and prog.expected["mm"].dense.shape == (40, 40)
    assert ff("sim", str(tmp_path / "d.ffir"), "--check").returncode == 0


def test_old_file_with_a_dense_expected_output_still_checks(compiled: Path, tmp_path: Path) -> None:
    """IR files written before expected outputs were sparse hold them dense: they load and
    check the same, and a wrong value in them is still found."""
    prog = io.load(compiled)
    want = prog.expected["mm"].to_dense()
    old = tmp_path / "old.ffir"
    io.save(prog, old)
    npz = io.data_dir(old) / "expected" / "mm.npz"
    np.savez(npz, shape=np.array(want.shape), dense=want)  # the old layout: one dense array
    assert io.load(old).expected["mm"].dense is not None
    r = ff("sim", str(old), "--check")
    assert r.returncode == 0 and "check: pass" in r.stdout, r.stderr
    r0, c0 = (int(x) for x in np.argwhere(want != 0)[0])
    want[r0, c0] += 1.0
    np.savez(npz, shape=np.array(want.shape), dense=want)
    r = ff("sim", str(old), "--check")
    assert r.returncode == 8, r.stderr
    assert f"mm differs from the reference at ({r0}, {c0})" in r.stderr


# ---- out of memory: a clear error, exit 7 ------------------------------------------------

LIMIT = 1536 << 20  # RLIMIT_AS: enough for the interpreter, torch and numba, not for 40 GB


def test_out_of_memory_loading_tensor_data(compiled: Path, tmp_path: Path) -> None:
    """A data file holding a dense array too big for the limit: named, with its size."""
    prog = io.load(compiled)
    big = tmp_path / "big.ffir"
    io.save(prog, big)
    npz = io.data_dir(big) / "expected" / "mm.npz"
    header = np.lib.format  # a 100k x 100k float32 array header with no data behind it
    with open(tmp_path / "dense.npy", "wb") as f:
        header.write_array_header_1_0(f, {"descr": "<f4", "fortran_order": False, "shape": (100_000, 100_000)})
    import zipfile

    with zipfile.ZipFile(npz, "w") as z:
        z.write(tmp_path / "dense.npy", "dense.npy")
        with z.open("shape.npy", "w") as f:
            np.save(f, np.array([100_000, 100_000]))
    r = ff("sim", str(big), "--check", limit=LIMIT)
    assert r.returncode == 7, r.stderr
    assert "out of memory loading tensor data" in r.stderr and "mm.npz" in r.stderr
    assert "40,000,000,000 bytes" in r.stderr and "internal error" not in r.stderr


def test_out_of_memory_storing_an_expected_output_in_ff_compile(tmp_path: Path) -> None:
    """A dense-format 30k x 30k output (3.6 GB) under a 1.5 GiB limit: ff compile names it."""
    (tmp_path / "spgemm.py").write_text(MODEL)
    r = ff("compile", "spgemm.py:factory", "-o", "x.ffir", cwd=tmp_path, env={"OUTFMT": "dense", "N": "30000"},
           limit=LIMIT)
    assert r.returncode == 7, r.stderr
    assert "out of memory" in r.stderr and "mm [30000, 30000]" in r.stderr
    assert "3,600,000,000 bytes" in r.stderr and "internal error" not in r.stderr


def test_out_of_memory_collecting_an_output_names_kernel_and_tensor(tmp_path: Path) -> None:
    """A blocked 40k x 40k output with three tiles is rebuilt dense (6.4 GB): both engines
    stop with the kernel, the tensor and the bytes."""
    from fuseflow.ir import examples as ex

    n = 40_000
    p = ex.spmm_ikj(n, 16, n, block=16)
    p.data["A"] = TensorData.from_coo((n, 16), np.array([[0, 17, n - 1], [0, 1, 2]]), np.ones(3))
    p.data["B"] = TensorData.from_coo((16, n), np.array([[0, 1, 2], [5, n - 1, 7]]), np.ones(3))
    io.save(p, tmp_path / "wide.ffir")
    for engine in ("fast", "reference"):
        r = ff("sim", "--engine", engine, str(tmp_path / "wide.ffir"), limit=LIMIT)
        assert r.returncode == 7, r.stderr
        assert "out of memory in kernel spmm_ikj_b16, collecting output C [40000, 40000]" in r.stderr
        assert "6,400,000,000 bytes" in r.stderr and "internal error" not in r.stderr


def test_out_of_memory_error_is_a_simulation_error() -> None:
    from fuseflow.ir.errors import SimulationError, memory_guard

    with pytest.raises(OutOfMemoryError, match=r"out of memory doing X: it needs 1,024 bytes") as e:
        with memory_guard("doing X"):
            raise RuntimeError("[enforce fail] DefaultCPUAllocator: can't allocate memory: you tried to "
                               "allocate 1024 bytes. Error code 12")
    assert isinstance(e.value, SimulationError) and e.value.exit_code == 7
    with pytest.raises(RuntimeError, match="other"):
        with memory_guard("doing X"):
            raise RuntimeError("other")


def test_out_of_memory_in_a_user_factory_is_not_a_frontend_error(tmp_path: Path) -> None:
    (tmp_path / "big.py").write_text(textwrap.dedent('''
        import torch

        def factory():
            return torch.nn.Identity(), (torch.zeros(60000, 60000),)
    '''))
    r = ff("compile", "big.py:factory", "-o", "x.ffir", cwd=tmp_path, limit=LIMIT)
    assert r.returncode == 7, r.stderr
    assert "out of memory in big.py:factory" in r.stderr and "14,400,000,000 bytes" in r.stderr


def test_a_failed_check_says_when_pytorchs_float32_error_was_not_measured() -> None:
    import torch
    from fuseflow.frontend.capture import capture
    from fuseflow.sim.check import check

    class Double(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * 2

    prog = capture(Double(), (torch.ones(3, 4),), name="double", fusion="unfused")
    out = prog.program.outputs[0]
    off = {out: TensorData.from_dense(prog.expected[out].to_dense() + 1.0)}
    assert "not measured" not in check(prog, off, {}).note
    prog.meta["float32_error"] = "not measured: the float64 run needs 12.6 GiB"
    rep = check(prog, off, {})
    assert rep.status == "fail" and "not measured: the float64 run needs 12.6 GiB" in rep.note
    assert "not measured" not in check(prog, {out: prog.expected[out]}, {}).note
