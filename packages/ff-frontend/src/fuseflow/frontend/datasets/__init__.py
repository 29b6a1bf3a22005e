"""Data sets by name (offline only).

Names: ``karate``, ``les_miserables``, ``florentine`` (real, from networkx);
``cora``, ``cora_ml``, ``dblp``, ``collab``, ``mag`` (seeded synthetic stand-ins at the
paper's sizes; ``collab:scale=16,seed=S`` is the same generator at 1/16 of the nodes and
edges); ``random:nodes=N,density=D,seed=S`` (graph) and
``random:rows=R,cols=C,density=D,seed=S`` (matrix); ``imagenet``, ``nih-cxr``, ``luna16``
and ``images:side=S,count=N,density=D,seed=K`` (synthetic sparse images); and loaders
of local files: ``planetoid:NAME`` / ``ogb`` / ``sam`` (read from ``data_dir``),
``mtx:PATH``, ``images-dir:PATH``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fuseflow.frontend.datasets import graphs, images, loaders
from fuseflow.frontend.datasets.graphs import Graph, Matrix
from fuseflow.frontend.datasets.images import Images
from fuseflow.ir.errors import DataError, UnknownNameError

Dataset = Graph | Matrix | Images


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    kind: str  # graph, matrix or images
    description: str


CATALOG: dict[str, DatasetInfo] = {
    "karate": DatasetInfo("karate", "graph", "Zachary's karate club: 34 nodes, 78 edges, identity features"),
    "les_miserables": DatasetInfo("les_miserables", "graph", "Les Miserables co-occurrences: 77 nodes, 254 edges"),
    "florentine": DatasetInfo("florentine", "graph", "Florentine families: 15 nodes, 20 edges"),
    **{n: DatasetInfo(n, "graph", f"synthetic {s.nodes} nodes x {s.features} features, ~{s.edges} power-law"
                      f" edges (paper: {s.sparsity} sparse)") for n, s in graphs.SYNTHETIC.items()},
    **{n: DatasetInfo(n, "images", f"synthetic {side}x{side} sparse images, batch 32 (hidden {h})")
       for n, (side, h) in images.PUBLISHED.items()},
    "NAME:scale=K,seed=S": DatasetInfo("scaled", "graph", "a synthetic stand-in above at 1/K of its nodes and edges"),
    "random:nodes=N,density=D,seed=S": DatasetInfo("random", "graph", "uniform random symmetric graph"),
    "random:rows=R,cols=C,density=D,seed=S": DatasetInfo("random", "matrix", "uniform random sparse matrix"),
    "images:side=S,count=N,density=D,seed=K": DatasetInfo("images", "images", "synthetic sparse images"),
    "planetoid:NAME": DatasetInfo("planetoid", "graph", "Planetoid raw files ind.NAME.* in --data-dir"),
    "ogb": DatasetInfo("ogb", "graph", "OGB edge.csv[.gz] + node-feat.csv[.gz] in --data-dir"),
    "mtx:PATH": DatasetInfo("mtx", "graph", "a Matrix Market file (square = graph, else a matrix)"),
    "images-dir:PATH": DatasetInfo("images-dir", "images", "a folder of images (.npy; .png/.jpg with Pillow)"),
    "sam": DatasetInfo("sam", "matrix", "a SAM/Comal formatted tensor dir (tensor_B_mode_*) in --data-dir"),
}

_REAL: dict[str, Callable[[], Graph]] = {
    "karate": graphs.karate,
    "les_miserables": graphs.les_miserables,
    "florentine": graphs.florentine,
}


def load(name: str, data_dir: str | None = None) -> Dataset:
    """A data set by name (see the module doc)."""
    key = name.strip()
    kind, _, rest = key.partition(":")
    if key in _REAL:
        return _REAL[key]()
    if key in graphs.SYNTHETIC:
        return graphs.synthetic(key)
    if key in images.PUBLISHED:
        return images.published(key)
    if kind == "random":
        return graphs.random_dataset(rest)
    if kind in graphs.SYNTHETIC:
        p = graphs.parse_params(rest, {"scale": int, "seed": int}, kind)
        return graphs.synthetic(kind, int(p.get("seed", 0)), int(p.get("scale", 1)))  # type: ignore[call-overload]  # parse_params values are typed by the spec given
    if kind == "images":
        p = graphs.parse_params(rest, {"side": int, "count": int, "density": float, "seed": int}, "images")
        return images.synthetic_images(key, int(p.get("side", 16)), int(p.get("count", 32)),  # type: ignore  # parse_params values are typed by the spec given
                                       float(p.get("density", 0.1)), int(p.get("seed", 0)))  # type: ignore  # parse_params values are typed by the spec given
    if kind == "images-dir":
        return images.load_folder(rest or _dir(data_dir, key))
    if kind == "mtx":
        return loaders.matrix_market(rest)
    if kind == "planetoid":
        return loaders.planetoid(rest or "cora", _dir(data_dir, key))
    if kind == "ogb":
        return loaders.ogb(rest or _dir(data_dir, key))
    if kind == "sam":
        return loaders.sam_tensor(rest or _dir(data_dir, key))
    raise UnknownNameError(f"unknown data set {name!r} (known: {', '.join(CATALOG)})")


def kind_of(name: str) -> str | None:
    """The kind (graph, matrix, images) of a data set name without loading it; None where only
    the file tells (``mtx:``). Unknown names raise :class:`UnknownNameError`."""
    key = name.strip()
    kind, _, rest = key.partition(":")
    if key in CATALOG:
        return CATALOG[key].kind
    if kind == "random":
        return "matrix" if "rows=" in rest or "cols=" in rest else "graph"
    if kind in graphs.SYNTHETIC:
        return "graph"
    by_prefix = {"images": "images", "images-dir": "images", "planetoid": "graph", "ogb": "graph",
                 "sam": "matrix", "mtx": None}
    if kind in by_prefix:
        return by_prefix[kind]
    raise UnknownNameError(f"unknown data set {name!r} (known: {', '.join(CATALOG)})")


def _dir(data_dir: str | None, name: str) -> str:
    if not data_dir:
        raise DataError(f"data set {name!r} reads local files: give a data directory")
    return data_dir


__all__ = ["load", "kind_of", "CATALOG", "Graph", "Matrix", "Images", "Dataset", "DatasetInfo"]
