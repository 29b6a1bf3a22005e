"""Data sets: real small graphs, synthetic stand-ins, random ones and file loaders."""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import scipy.sparse as sp
from fuseflow.frontend import datasets
from fuseflow.ir.errors import DataError, OutOfMemoryError, UnknownNameError


def check_adjacency(a: sp.csr_matrix) -> None:
    assert (a != a.T).nnz == 0, "not symmetric"
    assert a.diagonal().sum() == 0, "self loops"
    assert np.all(a.data == 1.0)


def test_karate() -> None:
    g = datasets.load("karate")
    assert g.num_nodes == 34 and g.adjacency.nnz == 2 * 78
    check_adjacency(g.adjacency)
    np.testing.assert_array_equal(g.features, np.eye(34))


@pytest.mark.parametrize("name, nodes", [("les_miserables", 77), ("florentine", 15)])
def test_other_real_graphs(name: str, nodes: int) -> None:
    g = datasets.load(name)
    assert g.num_nodes == nodes
    check_adjacency(g.adjacency)


def test_synthetic_cora_is_seeded_power_law() -> None:
    g = datasets.load("cora")
    assert g.adjacency.shape == (2708, 2708) and g.num_features == 1433
    check_adjacency(g.adjacency)
    assert 0.85 * 2 * 5278 <= g.adjacency.nnz <= 1.15 * 2 * 5278
    deg = np.asarray(g.adjacency.sum(axis=1)).ravel()
    assert deg.max() > 8 * np.median(deg)
    assert (datasets.load("cora").adjacency != g.adjacency).nnz == 0
    assert g.features.shape == (2708, 1433)


def test_scaled_stand_in_keeps_the_published_statistics() -> None:
    """``collab:scale=K``: 1/K of the nodes and edges, the same feature width and power law."""
    g = datasets.load("collab:scale=64")
    assert g.num_nodes == 235868 // 64 and g.num_features == 128
    check_adjacency(g.adjacency)
    assert 0.85 * 2 * (967632 // 64) <= g.adjacency.nnz <= 1.15 * 2 * (967632 // 64)
    deg = np.asarray(g.adjacency.sum(axis=1)).ravel()
    assert deg.max() > 8 * np.median(deg)
    assert (datasets.load("collab:scale=64,seed=1").adjacency != g.adjacency).nnz > 0
    assert datasets.kind_of("mag:scale=8") == "graph"
    with pytest.raises(DataError, match="scale"):
        datasets.load("cora:scale=0")
    with pytest.raises(DataError, match="parameters"):
        datasets.load("cora:nodes=3")


def test_random_graph_and_matrix() -> None:
    g = datasets.load("random:nodes=200,density=0.03,seed=1")
    check_adjacency(g.adjacency)
    assert 0.02 < g.adjacency.nnz / 200**2 < 0.04
    m = datasets.load("random:rows=10,cols=30,density=0.2,seed=2")
    assert m.matrix.shape == (10, 30) and m.matrix.nnz == 60
    with pytest.raises(DataError, match="nodes"):
        datasets.load("random:nods=3")
    with pytest.raises(DataError, match="density"):
        datasets.load("random:nodes=3,density=2")


def test_images() -> None:
    im = datasets.load("images:side=8,count=5,density=0.25,seed=3")
    assert im.batch.shape == (5, 64) and im.batch.nnz == 5 * 16
    assert datasets.images.PUBLISHED["nih-cxr"] == (1024, 512)


def test_image_folder_of_npy(tmp_path: Path) -> None:
    for k in range(3):
        np.save(tmp_path / f"im{k}.npy", np.eye(4) * 255 * (k + 1) / 3)
    im = datasets.load(f"images-dir:{tmp_path}")
    assert im.batch.shape == (3, 16) and im.side == 4
    assert im.batch.toarray().max() <= 1.0


def test_unknown_and_missing() -> None:
    with pytest.raises(UnknownNameError, match="karate"):
        datasets.load("nosuch")
    with pytest.raises(DataError, match="data directory"):
        datasets.load("ogb")


def test_planetoid_raw_files(tmp_path: Path) -> None:
    allx = sp.csr_matrix(np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float32))
    tx = sp.csr_matrix(np.array([[0, 0, 1], [1, 1, 0]], dtype=np.float32))
    graph = {0: [1], 1: [0, 2], 2: [1, 3], 3: [2]}
    for part, obj in (("allx", allx), ("tx", tx), ("graph", graph)):
        with open(tmp_path / f"ind.tiny.{part}", "wb") as f:
            pickle.dump(obj, f)
    (tmp_path / "ind.tiny.test.index").write_text("3\n2\n")
    g = datasets.load("planetoid:tiny", data_dir=str(tmp_path))
    assert g.num_nodes == 4 and g.adjacency.nnz == 6
    check_adjacency(g.adjacency)
    # test rows come back in node order: node 2 is tx row 1, node 3 is tx row 0
    np.testing.assert_array_equal(g.features[2:], [[1, 1, 0], [0, 0, 1]])


def test_ogb_csv(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "edge.csv.gz", "wt") as f:
        f.write("0,1\n1,2\n2,0\n3,3\n")
    (tmp_path / "node-feat.csv").write_text("\n".join(",".join(["0.5"] * 2) for _ in range(4)) + "\n")
    g = datasets.load("ogb", data_dir=str(tmp_path))
    assert g.num_nodes == 4 and g.adjacency.nnz == 6 and g.features.shape == (4, 2)
    check_adjacency(g.adjacency)


def test_ogb_without_features_is_not_an_identity(tmp_path: Path) -> None:
    # 200,000 nodes: an n x n identity would be 149 GiB; the loader gives 16 seeded random columns
    (tmp_path / "edge.csv").write_text("0,1\n1,199999\n")
    g = datasets.load("ogb", data_dir=str(tmp_path))
    assert g.num_nodes == 200_000 and g.num_features == 16
    assert g.features.shape == (200_000, 16) and g.features.dtype == np.float32
    assert float(np.abs(g.features).sum()) > 0


def test_matrix_market(tmp_path: Path) -> None:
    m = sp.coo_matrix(([2.0, 3.0], ([0, 1], [1, 2])), shape=(3, 3))
    scipy.io.mmwrite(str(tmp_path / "g.mtx"), m)
    g = datasets.load(f"mtx:{tmp_path / 'g.mtx'}")
    assert g.adjacency.nnz == 4
    check_adjacency(g.adjacency)
    scipy.io.mmwrite(str(tmp_path / "r.mtx"), sp.coo_matrix(np.ones((2, 3))))
    assert datasets.load(f"mtx:{tmp_path / 'r.mtx'}").matrix.shape == (2, 3)


def test_sam_formatted_csr(tmp_path: Path) -> None:
    dense = np.array([[0, 1.5, 0], [0, 0, 0], [2.0, 0, 3.0]], dtype=np.float32)
    c = sp.csr_matrix(dense)
    for name, arr in (("mode_shape", [3, 3]), ("mode_1_seg", c.indptr), ("mode_1_crd", c.indices),
                      ("mode_vals", c.data)):
        (tmp_path / f"tensor_B_{name}").write_text("\n".join(str(x) for x in arr) + "\n")
    m = datasets.load("sam", data_dir=str(tmp_path))
    np.testing.assert_array_equal(m.matrix.toarray(), dense)


def test_gcn_on_a_random_graph_and_sae_on_a_matrix() -> None:
    from fuseflow.frontend.api import load_program

    p = load_program("gcn", dataset="random:nodes=40,density=0.1,seed=1")
    assert p.program.tensors["a"].shape == (40, 40)
    p = load_program("sae", {"batch": "4"}, dataset="random:rows=6,cols=20,density=0.3,seed=1")
    assert p.program.tensors["x"].shape == (4, 20)


class _Exploit:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        import os

        return (os.system, ("touch pwned",))


def test_planetoid_files_cannot_run_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for part in ("allx", "tx", "graph"):
        with open(tmp_path / f"ind.evil.{part}", "wb") as f:
            pickle.dump(_Exploit(), f)
    with pytest.raises(DataError, match="refusing to load"):
        datasets.load("planetoid:evil", data_dir=str(tmp_path))
    assert not (tmp_path / "pwned").exists()


def test_matrix_market_graph_features_are_not_an_identity(tmp_path: Path) -> None:
    n = 60_000  # an n x n identity would be 13.4 GiB
    rows = np.arange(n - 1)
    scipy.io.mmwrite(str(tmp_path / "path.mtx"), sp.coo_matrix((np.ones(n - 1), (rows, rows + 1)), shape=(n, n)))
    g = datasets.load(f"mtx:{tmp_path / 'path.mtx'}")
    assert g.features.shape == (n, 16) and g.features.nbytes < 8 * 2**20


def test_a_too_large_allocation_fails_fast_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from fuseflow.frontend.datasets import graphs

    monkeypatch.setattr(graphs, "available_bytes", lambda: 1000)  # karate needs 4,624 B
    g = datasets.load("karate")
    with pytest.raises(OutOfMemoryError, match=r"node features of karate .* needs 4,624 bytes") as e:
        g.features  # noqa: B018 - the property allocates
    assert e.value.exit_code == 7  # out of memory, like the engine's
