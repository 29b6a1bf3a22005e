"""Fast engine vs reference engine, side by side in one run: tokens/s of each and the ratio.

    python benchmarks/sim_fast.py                       # GCN, dataset cora, partial fusion
    python benchmarks/sim_fast.py --dataset karate      # a quick run
    python benchmarks/sim_fast.py --hw no-hbm --fusion full

Both engines simulate the same compiled program; the script checks that cycles, flops and
bytes agree and prints tokens moved per second of wall time for each engine. Note: on
``cora`` the reference engine needs about 15 minutes and 7.4 GiB (it holds whole streams in
its channel queues); see docs/fast-engine.md.
"""

from __future__ import annotations

import argparse
import time

from fuseflow.fusion.api import compile_model
from fuseflow.sim import simulate


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gcn")
    ap.add_argument("--dataset", default="cora")
    ap.add_argument("--fusion", default="partial")
    ap.add_argument("--hw", default="default")
    ap.add_argument("--repeat", type=int, default=1, help="best of N runs per engine")
    args = ap.parse_args()

    t0 = time.perf_counter()
    prog = compile_model(args.model, {}, args.dataset, args.fusion).program
    print(f"{args.model}/{args.dataset} {args.fusion}, hw {args.hw}: compiled in {time.perf_counter() - t0:.1f}s, "
          f"{len(prog.kernels)} kernels", flush=True)
    results = {}
    for engine in ("fast", "reference"):
        best = None
        for _ in range(max(1, args.repeat)):
            t = time.perf_counter()
            res = simulate(prog, hw=args.hw, engine=engine)
            wall = time.perf_counter() - t
            best = wall if best is None else min(best, wall)
        results[engine] = (res, best)
        print(f"  {engine:9s} {best:9.2f}s  {res.tokens_moved / best:14,.0f} tokens/s  "
              f"({res.tokens_moved:,} tokens, {res.cycles:,} cycles)", flush=True)
    (f, tf), (r, tr) = results["fast"], results["reference"]
    same = (f.cycles, f.flops, f.bytes_moved, f.tokens_moved) == (r.cycles, r.flops, r.bytes_moved, r.tokens_moved)
    print(f"  speed-up {tr / tf:.1f}x; figures {'identical' if same else 'DIFFER'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
