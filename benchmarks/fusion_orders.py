"""Cycles of the nested matmul (A B) C over the karate adjacency in every dataflow order, with
the best/worst spread beside the paper's (~29x); and the order counts of fused GCN and GraphSAGE.

    python benchmarks/fusion_orders.py [--hw no-hbm] [--b-sparse] [--seed 4]   # the paper's workload
    python benchmarks/fusion_orders.py --artifact-c    # ... with C as the artifact actually writes it
    python benchmarks/fusion_orders.py --legacy [--cap 200] [--inner 8] [--out 4]
    python benchmarks/fusion_orders.py --sparse CSC                            # B = C = adjacency

The default is the workload of the paper's artifact (Figure 17, ``fuseflow.fusion.workloads.karate_abc``;
``ff dse study figure17`` runs the same sweep):
A the adjacency, B 34x34 at 10% density stored dense, C 34x16 at 10% compressed, all 24 orders of
i,k,j,l with every sparse operand stored in the mode order the order needs (the artifact's data
generator writes each tensor transposed when asked). The spread is given over all orders we lower
and over the artifact's 15. See docs/paper-studies.md.
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings

import networkx as nx
import numpy as np


def nested_matmul(inner: int = 8, out: int = 4, sparse: str | None = None):
    """A is the karate adjacency (CSR). B (34 x inner) and C (inner x out) are dense random,
    or with ``sparse`` (a format name, e.g. CSR or CSC) both the karate adjacency itself stored in
    that format (then inner = out = 34)."""
    from fuseflow.fusion.workloads import nested_matmul as chain
    from fuseflow.ir.formats import dense, named_format

    adj = nx.to_numpy_array(nx.karate_club_graph(), weight=None).astype(np.float32)
    rng = np.random.default_rng(0)
    b = rng.standard_normal((34, inner)).astype(np.float32)
    c = rng.standard_normal((inner, out)).astype(np.float32)
    bc_fmt = dense(2)
    if sparse:
        inner = out = 34
        b, c, bc_fmt = adj.copy(), adj.copy(), named_format(sparse)
    return chain(adj, b, c, bc_fmt)


def paper_sweep(hw: str, b_sparse: bool, seed: int, artifact_c: bool = False) -> None:
    """Every order of i,k,j,l on the artifact's workload (``ff dse study figure17`` prints the same)."""
    from fuseflow.dse.order_study import order_sweep, report_lines

    t0 = time.perf_counter()
    rows = order_sweep(hw=hw, b_sparse=b_sparse, seed=seed, artifact_c=artifact_c)
    print(f"(A B) C over karate, the artifact's workload (B {'DCSR' if b_sparse else 'dense'}, seed {seed}"
          f"{', C as the artifact writes it' if artifact_c else ''}), hw={hw}")
    print("\n".join(report_lines(rows)))
    print(f"{sum(r.cycles is not None for r in rows)}/24 orders lowered, all checked; "
          f"{time.perf_counter() - t0:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--legacy", action="store_true",
                    help="the earlier workload: B 34 x inner and C inner x out dense, A CSR, POG orders")
    ap.add_argument("--b-sparse", action="store_true", help="paper workload with B compressed too")
    ap.add_argument("--seed", type=int, default=4, help="paper workload: seed of B and C")
    ap.add_argument("--artifact-c", action="store_true",
                    help="paper workload with C as the artifact's generator writes it for l-before-j orders "
                         "(its shape swapped twice: 34 stored columns instead of 16); see karate_abc")
    ap.add_argument("--cap", type=int, default=200)
    ap.add_argument("--hw", default="no-hbm")
    ap.add_argument("--inner", type=int, default=8, help="columns of B (rows of C)")
    ap.add_argument("--out", type=int, default=4, help="columns of C")
    ap.add_argument("--sparse", nargs="?", const="CSR", default=None, metavar="FORMAT",
                    help="B and C are the karate adjacency too, stored FORMAT (default CSR), i.e. A A A; "
                         "ignores --inner/--out")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from fuseflow.fusion.api import capture, compile_captured, list_orders
    from fuseflow.sim import simulate

    if not args.legacy and not args.sparse:
        paper_sweep(args.hw, args.b_sparse, args.seed, args.artifact_c)
        return
    prog = nested_matmul(args.inner, args.out, args.sparse)
    (ol,) = list_orders(prog, n=1)
    print(f"(A B) C over karate, fused: {ol.count} valid orders over {','.join(ol.vars)} (cap {args.cap}), "
          f"hw={args.hw}")
    rows = []
    t0 = time.perf_counter()
    for k in itertools.islice(itertools.count(), min(args.cap, ol.count or args.cap)):
        try:
            res = compile_captured(nested_matmul(args.inner, args.out, args.sparse), order=str(k))
            r = simulate(res.program, hw=args.hw, check=True)
            rows.append((k, ",".join(res.reports[0].order), r.cycles, r.check))
        except Exception as e:  # noqa: BLE001
            rows.append((k, "?", None, f"error: {type(e).__name__}: {str(e)[:60]}"))
    print(f"{'#':>4}  {'order':<14}{'cycles':>10}  check")
    for k, o, cyc, chk in rows:
        print(f"{k:>4}  {o:<14}{cyc if cyc is not None else '-':>10}  {chk}")
    ok = [r for r in rows if r[2] is not None and r[3] == "pass"]
    if ok:
        best, worst = min(ok, key=lambda r: r[2]), max(ok, key=lambda r: r[2])
        print(f"best  #{best[0]} {best[1]}: {best[2]} cycles")
        print(f"worst #{worst[0]} {worst[1]}: {worst[2]} cycles  (spread {worst[2] / best[2]:.2f}x)")
    print(f"{len(ok)}/{len(rows)} orders pass; {time.perf_counter() - t0:.1f} s")
    for model in ("gcn", "graphsage"):
        for ol in list_orders(capture(model, {}, "karate", "full"), n=0):
            cnt = "more than can be counted" if ol.count is None else ol.count
            print(f"{model} full, group {ol.group}: {cnt} valid orders over {len(ol.vars)} indices")


if __name__ == "__main__":
    main()
