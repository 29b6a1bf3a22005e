"""Sizes of the demo and of the Figure 12 study, in one place (tune here once the simulator's
speed is known). Data set specs follow ``fuseflow.frontend.datasets``; model option names
follow the frontend zoo (``-m KEY=VALUE``)."""

from __future__ import annotations

from dataclasses import dataclass

FUSIONS = ("unfused", "partial", "full")


@dataclass(frozen=True)
class Workload:
    model: str
    dataset: str | None = None
    options: tuple[tuple[str, str], ...] = ()
    block: int | None = None
    label: str = ""  # data set name for plots (e.g. the paper's name of a scaled stand-in)
    skip_full: bool = False  # full fusion left out (as the paper's artifact does), unless asked for


def random_graph(nodes: int, density: float, seed: int = 1, features: int | None = None) -> str:
    """``random:nodes=N,density=D,seed=S[,features=F]`` (uniform random graph)."""
    s = f"random:nodes={nodes},density={density:.4g},seed={seed}"
    return s + (f",features={features}" if features is not None else "")


def images(side: int, count: int, density: float = 0.1, seed: int = 1) -> str:
    """``images:side=S,count=N,density=D,seed=K`` (synthetic sparse images; SAE input D = side^2)."""
    return f"images:side={side},count={count},density={density:g},seed={seed}"


SMALL_GRAPH = random_graph(48, 0.08)
GPT3_SMALL = (("decoders", "2"), ("seq", "32"), ("d_model", "16"), ("heads", "2"), ("block", "8"))

#: ``ff demo``: all four zoo models, small enough for < 5 minutes on 2 cores with the reference
#: engine (measured: the fully fused GCN/GraphSAGE runs dominate; gpt3 block is the BigBird
#: mask block, a model option, not value tiling).
DEMO: tuple[Workload, ...] = (
    Workload("gcn", "karate"),
    Workload("gcn", SMALL_GRAPH, label="random48"),
    Workload("graphsage", "karate"),
    Workload("graphsage", SMALL_GRAPH, label="random48"),
    Workload("sae", images(8, 8), (("batch", "8"), ("hidden", "16")), label="images8"),
    Workload("gpt3-bigbird", None, GPT3_SMALL, label="seq32"),
)

# -- Figure 12 (paper Table 2) ------------------------------------------------------------

#: frontend name -> (nodes, features, published undirected edges)
GRAPHS: dict[str, tuple[int, int, int]] = {
    "cora": (2708, 1433, 5278),
    "cora_ml": (2995, 2879, 8158),
    "dblp": (17716, 1639, 52867),
    "collab": (235868, 128, 967632),
    "mag": (1939743, 128, 10792672),
}

#: frontend name -> image side (SAE input D = side^2); batch 32
SAE_IMAGES: dict[str, int] = {"imagenet": 224, "nih-cxr": 1024, "luna16": 512}

#: per mode: largest graph used at full size (bigger ones become scaled random graphs with the
#: same average degree), features of scaled graphs, image side divisor, batch, GPT-3 options, blocks
MODES: dict[str, dict[str, object]] = {
    "fast": {"nodes": 100, "features": 16, "side_div": 32, "batch": 8,
             "gpt3": GPT3_SMALL[:-1], "blocks": (16,)},
    "medium": {"nodes": 3000, "features": 128, "side_div": 4, "batch": 32,
               "gpt3": (("decoders", "2"), ("seq", "512"), ("d_model", "256"), ("heads", "4")),
               "blocks": (16, 32, 64)},
    # the paper's Table 2 at full size: every graph stand-in at its published node, edge and
    # feature counts, the three image sizes, GPT-3 Small (12 decoders, seq 1024, d_model 768)
    "paper": {"nodes": 10**9, "features": 0, "side_div": 1, "batch": 32,
              "gpt3": (("decoders", "12"), ("seq", "1024"), ("d_model", "768"), ("heads", "12")),
              "blocks": (16, 32, 64)},
}

#: (model, data set) whose full fusion the paper's artifact skips (recomputation makes it impractical)
SKIP_FULL = {("gcn", "mag"), ("graphsage", "collab"), ("graphsage", "mag")}


def select_workloads(workloads: list[Workload], models: list[str] | None = None,
                     datasets: list[str] | None = None) -> list[Workload]:
    """The workloads of the named models (``gpt3`` names gpt3-bigbird) and data sets (by the
    paper's name, e.g. ``collab``, or the data set spec); None keeps all."""
    def model_ok(w: Workload) -> bool:
        return not models or w.model in models or (w.model.startswith("gpt3") and "gpt3" in models)

    def data_ok(w: Workload) -> bool:
        return not datasets or w.label in datasets or (w.dataset or "") in datasets

    return [w for w in workloads if model_ok(w) and data_ok(w)]


def figure12_workloads(mode: str, data_dir: str | None = None) -> list[Workload]:
    """Table 2 workloads scaled by ``mode``. With ``data_dir``: graphs from ``DIR/NAME.mtx``
    and images from ``DIR/NAME/`` (the frontend's ``mtx:`` and ``images-dir:`` loaders)."""
    m = MODES[mode]
    cap, feats, div, batch = (int(m[k]) for k in ("nodes", "features", "side_div", "batch"))  # type: ignore[call-overload]  # JSON table values are object-typed
    out: list[Workload] = []
    for name, (nodes, _f, edges) in GRAPHS.items():
        if data_dir:
            ds = f"mtx:{data_dir.rstrip('/')}/{name}.mtx"
        elif nodes <= cap:
            ds = name  # the frontend's seeded stand-in at the paper's size
        else:
            ds = random_graph(cap, min(1.0, 2 * edges / nodes / cap), 1, feats)
        out += [Workload(m, ds, label=name, skip_full=(m, name) in SKIP_FULL and mode == "paper")
                for m in ("gcn", "graphsage")]
    for name, side in SAE_IMAGES.items():
        if data_dir:
            ds = f"images-dir:{data_dir.rstrip('/')}/{name}"
        else:
            ds = name if div == 1 else images(max(8, side // div), batch)
        out.append(Workload("sae", ds, (("batch", str(batch)),), label=name))
    for b in m["blocks"]:  # type: ignore[attr-defined]  # JSON table values are object-typed
        opts = (*m["gpt3"], ("block", str(b)))  # type: ignore[misc]  # BigBird mask block
        out.append(Workload("gpt3-bigbird", None, opts, label=f"block {b}"))
    return out


#: The paper's headline speedups over unfused (model -> [(fusion, speedup, where)]).
PAPER_SPEEDUPS: dict[str, list[tuple[str, float | str, str]]] = {
    "gpt3-bigbird": [("full", 2.7, "block 16"), ("partial", 1.7, "block 16")],
    "gcn": [("partial", 2.6, "OGB-Collab"), ("full", "< 1", "recomputation")],
    "graphsage": [("partial", 3.9, "OGB-MAG"), ("full", "< 1", "recomputation")],
    "sae": [("full", 1.94, "paper text (artifact disagrees)"), ("partial", 1.01, "")],
}


# -- memory hints (the local executor starts an evaluation only if the hints fit) ---------

#: classes of the graph stand-ins (their last layer's width; the frontend's synthetic specs)
GRAPH_CLASSES = {"cora": 7, "cora_ml": 7, "dblp": 4, "collab": 2, "mag": 349}
GIB = 1 << 30


def memory_hint(model: str, dataset: str | None, options: tuple[tuple[str, str], ...]) -> int:
    """A generous estimate of one evaluation's peak memory in bytes, 0 when unknown. Calibrated
    on measured peaks (docs/dse.md, "Memory"): graphs hold the eager float32 output, its float64
    check run (two copies) and the features; GPT-3 grows with the mask block; SAE with its weights."""
    opts = dict(options)
    if model in ("gcn", "graphsage") and dataset in GRAPHS:
        n, f, _ = GRAPHS[dataset]
        return 2 * GIB + 20 * n * GRAPH_CLASSES[dataset] + 12 * n * f  # GCN/mag: 18.5 GB (17.4 measured)
    if model.startswith("gpt3"):
        s, b = int(opts.get("seq", 1024)), int(opts.get("block", 64))
        return GIB + int((3 + 6 * b / 64) * GIB * (s / 1024) ** 2)  # seq 1024: block 16 5.5, 64 10 GiB (5.8, 9.7 measured)
    if model == "sae" and dataset in SAE_IMAGES:
        pixels, hidden = SAE_IMAGES[dataset] ** 2, int(opts.get("hidden", 512))
        return 2 * GIB + 40 * pixels * hidden  # weights in float32 and float64 and stored pruned
    return 0


# -- work hints (a study starts its longest evaluations first) -----------------------------

#: sum of squared node degrees of the seeded stand-ins (full fusion recomputes layer 1 per
#: stored entry of A, so its work follows it); measured from ``fuseflow.frontend.datasets``
SUM_DEG2 = {"cora": 245_018, "cora_ml": 526_616, "dblp": 7_058_486, "collab": 415_703_726,
            "mag": 12_813_745_512}
CYCLES_PER_SECOND = 1e7  # what one worker simulated of graph kernels at paper size (2026-12-06)


def work_hint(model: str, dataset: str | None, options: tuple[tuple[str, str], ...], fusion: str) -> float:
    """Estimated seconds of one evaluation on one worker of this machine, 0 when unknown; only
    its order matters. Calibrated on the paper-size study (docs/dse.md): GCN full takes 1.25
    cycles per sum(deg^2) x features, GraphSAGE full 16x that; unfused and partial about
    2 cycles per multiply-add of the layers; SAE 1.3 cycles per multiply-add of its decoder;
    GPT-3 about 1,000 s at seq 1024 with its decoders' kernels reused."""
    opts = dict(options)
    if model in ("gcn", "graphsage") and dataset in GRAPHS:
        n, f, e = GRAPHS[dataset]
        c, h = GRAPH_CLASSES[dataset], int(opts.get("hidden", 16))
        if fusion == "full":
            cycles = 1.25 * SUM_DEG2[dataset] * f * (16 if model == "graphsage" else 1)
        else:
            cycles = 2.0 * (2 * e * f + n * f * h + 2 * e * c + n * h * c)
        return cycles / CYCLES_PER_SECOND
    if model == "sae" and dataset in SAE_IMAGES:
        batch, hidden = int(opts.get("batch", 32)), int(opts.get("hidden", 512))
        return 1.3 * batch * SAE_IMAGES[dataset] ** 2 * hidden / CYCLES_PER_SECOND
    if model.startswith("gpt3"):
        return 1000.0 * (int(opts.get("seq", 1024)) / 1024) ** 2
    return 0.0
