"""Graph and matrix data sets: real small graphs, synthetic stand-ins, random ones.

Adjacency matrices follow the paper's artifact: 1.0 per edge, symmetric, no self
loops, no normalization. Everything is seeded; large graphs are built with
scipy.sparse only (never densified), and features on first use.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from fuseflow.ir.errors import DataError, out_of_memory
from fuseflow.ir.sysmem import available_bytes


@dataclass
class Graph:
    name: str
    adjacency: sp.csr_matrix  # (n, n) float32
    make_features: Callable[[], np.ndarray]
    num_features: int
    num_classes: int
    description: str = ""
    _features: np.ndarray | None = field(default=None, repr=False)

    @property
    def num_nodes(self) -> int:
        return int(self.adjacency.shape[0])

    @property
    def features(self) -> np.ndarray:
        if self._features is None:
            ensure_fits(f"node features of {self.name} ({self.num_nodes} x {self.num_features} float32)",
                        4 * self.num_nodes * self.num_features)
            self._features = np.asarray(self.make_features(), dtype=np.float32)
        return self._features


def ensure_fits(what: str, nbytes: int) -> None:
    """Fail fast, naming ``what`` and the bytes it needs, before an allocation the machine
    cannot hold (instead of a MemoryError or the kernel's OOM killer halfway through)."""
    avail = available_bytes()
    if avail is not None and nbytes > avail:
        raise out_of_memory(f"loading {what} (only {avail / 2**30:.1f} GiB of memory is available)", nbytes=nbytes)


@dataclass
class Matrix:
    name: str
    matrix: sp.csr_matrix
    description: str = ""


def symmetric_adjacency(n: int, rows: np.ndarray, cols: np.ndarray) -> sp.csr_matrix:
    """1.0 per undirected edge, both directions, no self loops, duplicates merged."""
    keep = rows != cols
    r, c = rows[keep], cols[keep]
    a = sp.coo_matrix((np.ones(2 * len(r), np.float32), (np.r_[r, c], np.r_[c, r])), shape=(n, n)).tocsr()
    a.sum_duplicates()
    a.data[:] = 1.0
    return a


def power_law_graph(n: int, edges: int, seed: int, exponent: float = 2.5) -> sp.csr_matrix:
    """Chung-Lu style graph: endpoints drawn with power-law weights, ~``edges`` undirected edges."""
    rng = np.random.default_rng(seed)
    w = (np.arange(n, dtype=np.float64) + 1.0) ** (-1.0 / (exponent - 1.0))
    w = rng.permutation(w / w.sum())
    cdf = np.cumsum(w)
    m = int(edges * 1.1) + 8  # a few extra for duplicates and self loops
    rows = np.minimum(np.searchsorted(cdf, rng.random(m)), n - 1)
    cols = np.minimum(np.searchsorted(cdf, rng.random(m)), n - 1)
    a = symmetric_adjacency(n, rows, cols)
    return a


def random_graph(n: int, density: float, seed: int) -> sp.csr_matrix:
    """Uniform random symmetric graph with about ``density * n * n`` stored entries."""
    rng = np.random.default_rng(seed)
    m = max(1, int(round(density * n * n / 2)))
    rows, cols = rng.integers(0, n, m), rng.integers(0, n, m)
    return symmetric_adjacency(n, rows, cols)


def random_features(n: int, f: int, seed: int, density: float = 1.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, f), dtype=np.float32)
    if density < 1.0:
        x *= rng.random((n, f), dtype=np.float32) < density
    return x


def _nx_graph(name: str, make: Callable[[], object], classes: int, desc: str) -> Graph:
    import networkx as nx

    g = make()
    n = g.number_of_nodes()  # type: ignore[attr-defined]  # networkx graph from an untyped factory
    idx = {v: i for i, v in enumerate(g.nodes())}  # type: ignore[attr-defined]  # networkx graph from an untyped factory
    e = np.array([(idx[u], idx[v]) for u, v in g.edges()], dtype=np.int64).reshape(-1, 2)  # type: ignore  # networkx graph from an untyped factory
    del nx
    return Graph(name, symmetric_adjacency(n, e[:, 0], e[:, 1]), lambda: np.eye(n, dtype=np.float32), n, classes,
                 desc)


def karate() -> Graph:
    import networkx as nx

    return _nx_graph("karate", nx.karate_club_graph, 2,
                     "Zachary's karate club (networkx): 34 nodes, 78 edges; features = identity (34)")


def les_miserables() -> Graph:
    import networkx as nx

    return _nx_graph("les_miserables", nx.les_miserables_graph, 2,
                     "Les Miserables co-occurrence (networkx): 77 nodes, 254 edges; features = identity")


def florentine() -> Graph:
    import networkx as nx

    return _nx_graph("florentine", nx.florentine_families_graph, 2,
                     "Florentine families (networkx): 15 nodes, 20 edges; features = identity")


@dataclass(frozen=True)
class SyntheticSpec:
    nodes: int
    features: int
    edges: int  # undirected edges of the published graph
    classes: int
    feature_density: float
    sparsity: str  # as printed in the paper's Table 2


# node/feature counts from the paper's Table 2; edge counts are the published ones
SYNTHETIC: dict[str, SyntheticSpec] = {
    "cora": SyntheticSpec(2708, 1433, 5278, 7, 0.0127, "99.7%"),
    "cora_ml": SyntheticSpec(2995, 2879, 8158, 7, 0.006, "99.8%"),
    "dblp": SyntheticSpec(17716, 1639, 52867, 4, 0.003, "99.6%"),
    "collab": SyntheticSpec(235868, 128, 967632, 2, 1.0, "99.9%"),
    "mag": SyntheticSpec(1939743, 128, 10792672, 349, 1.0, "99.9%"),
}


def synthetic(name: str, seed: int = 0, scale: int = 1) -> Graph:
    """The stand-in for ``name``; ``scale`` K > 1: the same generator at 1/K of the nodes and
    edges (same features and power law), to try a paper-size study at a fraction of its cost."""
    s = SYNTHETIC[name]
    if scale < 1 or s.nodes // scale < 2:
        raise DataError(f"{name}: scale must be between 1 and {s.nodes // 2}, got {scale}")
    n, edges = s.nodes // scale, s.edges // scale
    adj = power_law_graph(n, edges, seed)
    label = name if scale == 1 and seed == 0 else f"{name}:scale={scale},seed={seed}"
    desc = (f"synthetic stand-in for {name}{f' at 1/{scale} size' if scale > 1 else ''}: {n} nodes x "
            f"{s.features} features, ~{edges} power-law edges (paper sparsity {s.sparsity}), seed {seed}")
    return Graph(label, adj, lambda: random_features(n, s.features, seed + 1, s.feature_density),
                 s.features, s.classes, desc)


def parse_params(text: str, allowed: dict[str, type], what: str) -> dict[str, object]:
    out: dict[str, object] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, eq, val = part.partition("=")
        key = key.strip()
        if not eq or key not in allowed:
            raise DataError(f"bad parameter {part!r} for {what} (parameters: {', '.join(allowed)})")
        try:
            out[key] = allowed[key](val.strip())
        except ValueError:
            raise DataError(f"{what}: {key}={val!r} is not a {allowed[key].__name__}") from None
    return out


def random_dataset(params: str) -> Graph | Matrix:
    """``random:nodes=N,density=D,seed=S[,features=F]`` (a graph) or
    ``random:rows=R,cols=C,density=D,seed=S`` (a matrix)."""
    p = parse_params(params, {"nodes": int, "rows": int, "cols": int, "density": float, "seed": int,
                              "features": int, "classes": int}, "random")
    seed = int(p.get("seed", 0))  # type: ignore[call-overload]  # parse_params values are typed by the spec given
    density = float(p.get("density", 0.05))  # type: ignore[arg-type]  # parse_params values are typed by the spec given
    if not 0 < density <= 1:
        raise DataError(f"random: density must be in (0, 1], got {density}")
    if "nodes" in p:
        n = int(p["nodes"])  # type: ignore[call-overload]  # parse_params values are typed by the spec given
        f = int(p.get("features", 16))  # type: ignore[call-overload]  # parse_params values are typed by the spec given
        adj = random_graph(n, density, seed)
        return Graph(f"random:{params}", adj, lambda: random_features(n, f, seed + 1), f,
                     int(p.get("classes", 4)),  # type: ignore[call-overload]  # parse_params values are typed by the spec given
                     f"uniform random graph: {n} nodes, density {density}, seed {seed}; random features ({f})")
    if "rows" in p and "cols" in p:
        r, c = int(p["rows"]), int(p["cols"])  # type: ignore[call-overload]  # parse_params values are typed by the spec given
        m = sp.random(r, c, density=density, format="csr", dtype=np.float32, random_state=seed)
        return Matrix(f"random:{params}", m, f"random {r}x{c} matrix, density {density}, seed {seed}")
    raise DataError("random data set needs nodes=N (a graph) or rows=R,cols=C (a matrix)")
