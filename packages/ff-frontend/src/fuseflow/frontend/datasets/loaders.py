"""Loaders of real data files: Planetoid raw files, OGB csv, Matrix Market, SAM/Comal dirs.

All read from a local ``data_dir`` (nothing is downloaded).
"""

from __future__ import annotations

import gzip
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from fuseflow.frontend.datasets.graphs import Graph, Matrix, symmetric_adjacency
from fuseflow.ir.errors import DataError


def _need(path: Path) -> Path:
    if not path.exists():
        raise DataError(f"missing data file {path}")
    return path


#: the only classes a Planetoid pickle may name: scipy matrices, numpy arrays and plain containers
PLANETOID_CLASSES = {
    ("copyreg", "_reconstructor"), ("builtins", "object"), ("builtins", "list"), ("builtins", "dict"),
    ("builtins", "int"), ("builtins", "set"), ("builtins", "tuple"), ("collections", "defaultdict"),
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"), ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    *((mod, cls) for mod in ("scipy.sparse.csr", "scipy.sparse._csr", "scipy.sparse.csc", "scipy.sparse._csc",
                             "scipy.sparse.lil", "scipy.sparse._lil", "scipy.sparse._arrays")
      for cls in ("csr_matrix", "csc_matrix", "lil_matrix", "csr_array", "csc_array")),
}


class _PlanetoidUnpickler(pickle.Unpickler):
    """Reads Kipf's Planetoid pickles without running code: any class outside
    :data:`PLANETOID_CLASSES` (``os.system``, say) is refused."""

    def __init__(self, f: Any, path: Path) -> None:
        super().__init__(f, encoding="latin1")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in PLANETOID_CLASSES:
            raise DataError(f"{self.path}: refusing to load {module}.{name} (a Planetoid file holds only "
                            "scipy/numpy arrays and lists; convert other data to .mtx or OGB CSV files)")
        return super().find_class(module, name)


def planetoid(name: str, data_dir: str | Path) -> Graph:
    """Planetoid raw files ``ind.<name>.{x,tx,allx,graph,test.index}`` (Kipf's layout)."""
    d = Path(data_dir)

    def load(part: str) -> object:
        path = _need(d / f"ind.{name}.{part}")
        with open(path, "rb") as f:
            try:
                return _PlanetoidUnpickler(f, path).load()
            except DataError:
                raise
            except Exception as e:  # noqa: BLE001 - a malformed file is a data error
                raise DataError(f"{path}: not a readable Planetoid file ({type(e).__name__}: {e})") from None

    allx, tx = load("allx"), load("tx")
    graph = load("graph")
    feats = sp.vstack([sp.csr_matrix(allx), sp.csr_matrix(tx)]).tocsr()  # type: ignore[arg-type]  # scipy's stubs do not accept a pickled matrix object
    test_index = d / f"ind.{name}.test.index"
    if test_index.exists():  # test rows are stored in a shuffled order: put them back
        idx = np.loadtxt(test_index, dtype=np.int64).reshape(-1)
        perm = np.arange(feats.shape[0])
        ok = len(idx) and idx.max() < feats.shape[0]
        if ok:
            perm[idx] = np.sort(idx)
            feats = feats[perm]
    if not isinstance(graph, dict):
        raise DataError(f"ind.{name}.graph is not an adjacency dict")
    n = max(feats.shape[0], max(graph) + 1 if graph else 0)
    rows = np.array([u for u, vs in graph.items() for _ in vs], dtype=np.int64)
    cols = np.array([v for vs in graph.values() for v in vs], dtype=np.int64)
    adj = symmetric_adjacency(n, rows, cols)
    if feats.shape[0] < n:
        feats = sp.vstack([feats, sp.csr_matrix((n - feats.shape[0], feats.shape[1]))]).tocsr()
    f = feats.astype(np.float32)
    return Graph(f"planetoid:{name}", adj, lambda: f.toarray(), int(f.shape[1]), 7,
                 f"Planetoid {name} from {d}: {n} nodes, {adj.nnz // 2} edges")


def _read_csv(path: Path, dtype: type) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:  # type: ignore[operator]  # gzip.open and open share the text-mode call
        return np.loadtxt(f, delimiter=",", dtype=dtype, ndmin=2)


def _find(d: Path, stem: str) -> Path | None:
    for cand in (d / f"{stem}.csv", d / f"{stem}.csv.gz", d / "raw" / f"{stem}.csv", d / "raw" / f"{stem}.csv.gz"):
        if cand.exists():
            return cand
    return None


def ogb(data_dir: str | Path) -> Graph:
    """OGB raw csv: ``edge.csv[.gz]`` (src,dst per line) and ``node-feat.csv[.gz]``."""
    d = Path(data_dir)
    ep = _find(d, "edge")
    if ep is None:
        raise DataError(f"no edge.csv or edge.csv.gz in {d}")
    e = _read_csv(ep, np.int64)
    fp = _find(d, "node-feat")
    feats = _read_csv(fp, np.float32) if fp is not None else None
    n = int(max(e.max(initial=-1) + 1, 0 if feats is None else feats.shape[0]))
    adj = symmetric_adjacency(n, e[:, 0], e[:, 1])
    if feats is None:
        # no node-feat file: seeded random features of a fixed width, made lazily behind the
        # Graph's size check (an n x n identity is n^2 floats: 207 GiB at collab's 235,868 nodes)
        return Graph(f"ogb:{d}", adj, lambda: _random_features(n, MTX_FEATURES), MTX_FEATURES, 2,
                     f"OGB graph from {d}: {n} nodes ({MTX_FEATURES} seeded random node features)")
    f = feats
    return Graph(f"ogb:{d}", adj, lambda: f, int(f.shape[1]), 2, f"OGB graph from {d}: {n} nodes")


#: node features given to a Matrix Market graph (the format stores none)
MTX_FEATURES = 16


def _random_features(n: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, width), dtype=np.float32)


def matrix_market(path: str | Path) -> Graph | Matrix:
    """A Matrix Market file: a square pattern/real matrix is taken as a graph."""
    import scipy.io

    p = _need(Path(path))
    try:
        m = sp.csr_matrix(scipy.io.mmread(str(p)), dtype=np.float32)
    except (ValueError, OSError) as e:
        raise DataError(f"cannot read Matrix Market file {p}: {e}") from None
    if m.shape[0] == m.shape[1]:
        c = m.tocoo()
        adj = symmetric_adjacency(m.shape[0], c.row.astype(np.int64), c.col.astype(np.int64))
        n = m.shape[0]
        # the file holds no node features: seeded random ones of a fixed width (not an n x n identity,
        # which is n^2 floats: 14 GiB at 60,000 nodes)
        return Graph(f"mtx:{p}", adj, lambda: _random_features(n, MTX_FEATURES), MTX_FEATURES, 2,
                     f"graph from {p} ({MTX_FEATURES} seeded random node features)")
    return Matrix(f"mtx:{p}", m, f"matrix from {p}")


def sam_tensor(data_dir: str | Path, tensor: str = "B") -> Matrix:
    """A SAM/Comal formatted 2-D tensor: ``tensor_<T>_mode_shape``, ``tensor_<T>_mode_vals``
    and per mode ``tensor_<T>_mode_<k>_seg`` / ``_crd`` (compressed) or nothing (dense)."""
    d = Path(data_dir)

    def ints(name: str) -> np.ndarray:
        return np.loadtxt(_need(d / name), dtype=np.int64, ndmin=1)

    shape = tuple(int(s) for s in ints(f"tensor_{tensor}_mode_shape"))
    vals = np.loadtxt(_need(d / f"tensor_{tensor}_mode_vals"), dtype=np.float32, ndmin=1)
    if len(shape) != 2:
        raise DataError(f"SAM tensor {tensor} in {d} has {len(shape)} modes; only matrices are supported")
    coords: list[np.ndarray] = [np.zeros(0, np.int64)]
    parents = np.zeros(1, dtype=np.int64)  # position -> row coordinate per stored entry so far
    rows = np.zeros(0, np.int64)
    for k in range(2):
        seg_p, crd_p = d / f"tensor_{tensor}_mode_{k}_seg", d / f"tensor_{tensor}_mode_{k}_crd"
        if seg_p.exists() and crd_p.exists():
            seg, crd = ints(seg_p.name), ints(crd_p.name)
            owner = np.repeat(np.arange(len(seg) - 1), np.diff(seg))
        else:
            owner = np.repeat(np.arange(len(parents)), shape[k])
            crd = np.tile(np.arange(shape[k]), len(parents))
        if k == 0:
            rows = crd
            parents = crd
        else:
            coords = [rows[owner], crd]
    r, c = coords
    if len(vals) != len(r):
        raise DataError(f"SAM tensor {tensor} in {d}: {len(vals)} values for {len(r)} coordinates")
    m = sp.csr_matrix((vals, (r, c)), shape=shape, dtype=np.float32)
    return Matrix(f"sam:{d}", m, f"SAM tensor {tensor} from {d}")
