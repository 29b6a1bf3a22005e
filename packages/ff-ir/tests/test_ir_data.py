"""store()/unstore() for the common formats, and the SAM data directory layout."""

from __future__ import annotations

import numpy as np
import pytest

from fuseflow.ir import io, samdata
from fuseflow.ir.data import TensorData, store, unstore
from fuseflow.ir.errors import DataError
from fuseflow.ir.formats import LevelFormat, TensorFormat

FORMATS = ["CSR", "CSC", "DCSR", "DCSC", "COO", "DENSE", "BSR2", "cc@1,0#2x2", "dc#2x3"]


def _matrix(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    a = rng.random((4, 6)).astype(np.float32)
    a[rng.random((4, 6)) < 0.6] = 0
    a[2] = 0  # an empty row
    return a


@pytest.mark.parametrize("name", FORMATS)
def test_store_unstore_round_trip(name):
    a = _matrix()
    st = store(TensorData.from_dense(a), TensorFormat.parse(name))
    assert np.array_equal(unstore(st), a)


@pytest.mark.parametrize("spec", ["dd", "dd@1,0"])
def test_dense_data_in_a_dense_format_is_stored_as_its_coordinates_would_be(spec):
    # the direct path (no coordinates) against the same data given as COO
    a = _matrix()
    a[0, 0], a[1, 1] = -0.0, np.nan
    fmt = TensorFormat.parse(spec)
    direct = store(TensorData.from_dense(a), fmt)
    coords, values = TensorData.from_dense(a).to_coo()
    via_coo = store(TensorData.from_coo(a.shape, coords, values), fmt)
    assert [lv.dim for lv in direct.levels] == [lv.dim for lv in via_coo.levels]
    assert direct.vals.tobytes() == via_coo.vals.tobytes()  # -0 stored as +0, NaN kept


def test_csr_layout():
    a = np.array([[0, 1, 2], [0, 0, 0], [3, 0, 0]], dtype=np.float32)
    st = store(TensorData.from_dense(a), TensorFormat.parse("CSR"))
    assert st.levels[1].seg.tolist() == [0, 2, 2, 3]
    assert st.levels[1].crd.tolist() == [1, 2, 0]
    assert st.vals.tolist() == [1, 2, 3]


def test_coo_layout_is_non_unique_then_singleton():
    a = np.array([[0, 1, 2], [0, 0, 0], [3, 0, 0]], dtype=np.float32)
    st = store(TensorData.from_dense(a), TensorFormat.parse("COO"))
    assert st.levels[0].seg.tolist() == [0, 3]
    assert st.levels[0].crd.tolist() == [0, 0, 2]
    assert st.levels[1].crd.tolist() == [1, 2, 0]
    assert np.array_equal(unstore(st), a)


def test_bsr_blocks_are_row_major_tiles():
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    a[:2, 2:] = 0
    st = store(TensorData.from_dense(a), TensorFormat.parse("BSR2"))
    assert st.levels[1].crd.tolist() == [0, 0, 1]
    assert st.vals.shape == (3, 2, 2)
    assert st.vals[0].tolist() == [[0, 1], [4, 5]]


@pytest.mark.parametrize("name", FORMATS + ["css", "d"])
def test_samdata_round_trip(tmp_path, name):
    fmt = TensorFormat.parse(name)
    a = _matrix() if fmt.order == 2 else np.arange(1, 7, dtype=np.float32) * 0.1
    if fmt.order == 3:
        a = (np.random.default_rng(2).random((3, 4, 5)) < 0.3).astype(np.float32) * 0.5
    samdata.write_tensor(tmp_path, "B", TensorData.from_dense(a), fmt)
    assert np.array_equal(samdata.read_tensor(tmp_path, "B", fmt).to_dense(), a)


def test_samdata_file_names_and_contents(tmp_path):
    a = np.array([[0, 1.5, 2], [0, 0, 0], [3, 0, 0]], dtype=np.float32)
    files = samdata.write_tensor(tmp_path, "B", TensorData.from_dense(a), TensorFormat.parse("DCSC"))
    # files are named by the tensor mode a level holds, as SAM names them: DCSC's outer level is mode 1
    assert [f.name for f in files] == ["tensor_B_mode_shape", "tensor_B_mode_1_seg", "tensor_B_mode_1_crd",
                                       "tensor_B_mode_0_seg", "tensor_B_mode_0_crd", "tensor_B_mode_vals"]
    assert (tmp_path / "tensor_B_mode_1_crd").read_text() == "0\n1\n2\n"  # columns with entries
    assert (tmp_path / "tensor_B_mode_0_crd").read_text() == "2\n0\n0\n"
    assert (tmp_path / "tensor_B_mode_vals").read_text() == "3.0\n1.5\n2.0\n"
    files = samdata.write_tensor(tmp_path, "D", TensorData.from_dense(a), TensorFormat.parse("DENSE"))
    assert [f.name for f in files] == ["tensor_D_mode_shape", "tensor_D_mode_vals"]


def test_samdata_blocked_values(tmp_path):
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    a[:2, 2:] = 0
    samdata.write_tensor(tmp_path, "W", TensorData.from_dense(a), TensorFormat.parse("BSR2"))
    vals = (tmp_path / "tensor_W_mode_vals").read_text().split()
    assert len(vals) == 3 * 4 and vals[:4] == ["0.0", "1.0", "4.0", "5.0"]
    assert (tmp_path / "tensor_W_mode_shape").read_text() == "4\n4\n"


def test_samdata_errors(tmp_path):
    fmt = TensorFormat.parse("CSR")
    samdata.write_tensor(tmp_path, "B", TensorData.from_dense(_matrix()), fmt)
    (tmp_path / "tensor_B_mode_1_seg").write_text("0\nx\n")
    with pytest.raises(DataError, match="entry 2 is not an integer"):
        samdata.read_tensor(tmp_path, "B", fmt)
    (tmp_path / "tensor_B_mode_1_seg").write_text("0\n1\n")
    with pytest.raises(DataError, match="not a segment array"):
        samdata.read_tensor(tmp_path, "B", fmt)
    with pytest.raises(DataError, match="cannot read"):
        samdata.read_tensor(tmp_path, "missing", fmt)
    with pytest.raises(DataError, match="levels"):
        samdata.read_tensor(tmp_path, "B", TensorFormat((LevelFormat.DENSE,)))


def test_bad_npz_is_a_data_error(tmp_path, spmv):
    path = tmp_path / "p.ffir"
    io.save(spmv, path)
    folder = io.data_dir(path) / "data"
    folder.mkdir(parents=True)
    (folder / "A.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="A.npz"):
        io.load(path)
    np.savez(folder / "A.npz", shape=np.array([2, 2]), dense=np.zeros(3))
    with pytest.raises(DataError, match="expected"):
        io.load(path)


def test_tensor_names_are_quoted_in_file_names(tmp_path, spmv):
    spmv.data["a/b c"] = TensorData.from_dense(np.zeros(2))
    path = tmp_path / "p.ffir"
    io.save(spmv, path)
    assert (io.data_dir(path) / "data" / "a%2Fb%20c.npz").exists()
    assert "a/b c" in io.load(path).data


def test_sparse_and_dense_expected_outputs_round_trip(tmp_path, spmv):
    """An expected output is stored as its tensor is (COO for a sparse one): what was
    saved loads back equal, the dense layout of older files too."""
    spmv.expected["A"] = TensorData.from_coo((4, 6), np.array([[0, 3], [5, 1]]), np.array([1.5, -2.0]))
    spmv.expected["y"] = TensorData.from_dense(np.arange(4, dtype=np.float32))
    path = tmp_path / "p.ffir"
    io.save(spmv, path)
    with np.load(io.data_dir(path) / "expected" / "A.npz") as z:
        assert sorted(z.files) == ["coords", "shape", "values"]
    with np.load(io.data_dir(path) / "expected" / "y.npz") as z:
        assert sorted(z.files) == ["dense", "shape"]
    back = io.load(path)
    assert back.expected == spmv.expected


def test_out_of_memory_errors_name_what_and_how_much():
    from fuseflow.ir.errors import OutOfMemoryError, SimulationError, memory_guard, needed_bytes

    with pytest.raises(MemoryError) as e:  # numpy's own error carries the size
        np.empty((1 << 40, 1 << 20), np.float32)
    assert needed_bytes(e.value) == 4 << 60
    with pytest.raises(OutOfMemoryError, match=r"out of memory loading X: it needs 4,611,686,018,427,387,904 bytes"):
        with memory_guard("loading X"):
            np.empty((1 << 40, 1 << 20), np.float32)
    assert issubclass(OutOfMemoryError, SimulationError) and OutOfMemoryError.exit_code == 7
    with pytest.raises(DataError):  # other errors pass through unchanged
        with memory_guard("loading X"):
            raise DataError("bad")


def test_big_arrays_are_mapped_from_their_files_not_read(tmp_path, spmv, monkeypatch):
    """Arrays of at least MMAP_BYTES load as read-only maps of their (uncompressed) file; the
    program saved again to the same path keeps its values; a truncated file is a data error."""
    monkeypatch.setattr(io, "MMAP_BYTES", 16)
    spmv.expected["A"] = TensorData.from_coo((4, 6), np.array([[0, 3, 1], [5, 1, 2]]), np.array([1.5, -2.0, 3.0]))
    spmv.expected["y"] = TensorData.from_dense(np.arange(8, dtype=np.float32).reshape(4, 2, order="F"))
    path = tmp_path / "p.ffir"
    io.save(spmv, path)
    back = io.load(path)
    assert back.expected == spmv.expected and back.data == spmv.data
    y = back.expected["y"].dense
    assert y is not None and not y.flags.writeable and not y.flags.owndata and y.flags.f_contiguous
    assert not back.expected["A"].coords.flags.writeable  # type: ignore[union-attr]
    io.save(back, path)  # over the files it is mapped from
    assert io.load(path).expected == spmv.expected
    np.savez_compressed(io.data_dir(path) / "expected" / "y.npz", shape=np.array([4, 2]), dense=np.ones((4, 2)))
    assert io.load(path).expected["y"].dense.flags.writeable  # type: ignore[union-attr]  # compressed: read
    npz = io.data_dir(path) / "expected" / "A.npz"
    npz.write_bytes(npz.read_bytes()[:-40])
    with pytest.raises(DataError, match="A.npz"):
        io.load(path)
