"""Parallelization sweep: cycles and speedup for --par INDEX:F, F in 1, 2, 4, 8, 16.

    python benchmarks/parallel_scaling.py                 # BigBird attention, i:F and j:F, then i:4 x j:4
    python benchmarks/parallel_scaling.py --seq 512       # a bigger (slower) attention

Defaults follow the paper's study (the artifact's Figure 15b: mask block 64, values streamed as
scalars, memory model off) at seq 256: 85 s wall and 6.8 GB peak RSS, so run it under
``flock /tmp/ff-bigrun.lock``; see docs/paper-studies.md.
    python benchmarks/parallel_scaling.py --model gcn --dataset karate --index i

BigBird attention (one head, full fusion) is compiled with its two output indices outermost
(``--order i,j,...``: rows, then head columns), so each index's region holds the whole
kernel. Every parallel program is checked against PyTorch; a failed check exits non-zero.
"""

from __future__ import annotations

import argparse
import time
import warnings

FACTORS = (1, 2, 4, 8, 16)
#: the paper's speedups for BigBird attention at block 64 (factor 2, 4 on one level; 4 x 4 on two)
PAPER = {"2": "2.00x", "4": "4.00x", "4x4": "~15.9x"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="bigbird-attention", help="bigbird-attention or gcn")
    ap.add_argument("--seq", type=int, default=256, help="paper: 1024 (not run here: slow)")
    ap.add_argument("--d-head", type=int, default=16)
    ap.add_argument("--mask-block", type=int, default=64, help="BigBird block of the mask pattern (paper: 64)")
    ap.add_argument("--dataset", default="karate", help="gcn only")
    ap.add_argument("--index", action="append", help="indices to sweep (default: i and j; gcn: i)")
    ap.add_argument("--hw", default="no-hbm")
    ap.add_argument("--engine", default="fast")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from fuseflow.fusion.api import compile_model
    from fuseflow.sim import simulate

    if args.model == "bigbird-attention":
        opts = {"seq": str(args.seq), "d_head": str(args.d_head), "block": str(args.mask_block)}
        fusion, order, dataset = "full", "i,j,...", None
        indices = args.index or ["i", "j"]
    else:
        opts, fusion, order, dataset = {}, "partial", None, args.dataset
        indices = args.index or ["i"]
    print(f"{args.model} {opts or ''} --fusion {fusion}{' --order ' + order if order else ''} "
          f"--hw {args.hw} --engine {args.engine}")

    def run(par: list[tuple[str, int]]) -> tuple[int, str, float]:
        t = time.perf_counter()
        res = compile_model(args.model, opts, dataset, fusion, order=order, par=par or None)
        r = simulate(res.program, hw=args.hw, engine=args.engine, check=True)
        if r.check != "pass":
            raise SystemExit(f"--par {par}: check {r.check}")
        return r.cycles, r.check, time.perf_counter() - t

    base, _, wall = run([])
    print(f"{'par':>12}{'cycles':>12}{'speedup':>9}{'check':>7}{'wall':>8}")
    print(f"{'-':>12}{base:>12}{1.0:>8.2f}x{'pass':>7}{wall:>7.0f}s", flush=True)
    sweeps = [[(ix, f)] for ix in indices for f in FACTORS[1:]]
    if len(indices) >= 2:
        sweeps.append([(indices[0], 4), (indices[1], 4)])
    for par in sweeps:
        cycles, check, wall = run(par)
        label = " x ".join(f"{i}:{f}" for i, f in par)
        key = "x".join(str(f) for _, f in par)
        paper = f"  (paper {PAPER[key]})" if args.model == "bigbird-attention" and key in PAPER else ""
        print(f"{label:>12}{cycles:>12}{base / cycles:>8.2f}x{check:>7}{wall:>7.0f}s{paper}", flush=True)


if __name__ == "__main__":
    main()
