"""Throughput of the fast engine on one thread and on two, side by side in one run.

Runs ``ff sim PROGRAM --json --threads N`` in a fresh process per run, the thread counts
taking turns (``--repeat`` rounds; the machine is shared, so compare runs of one round),
and prints wall and CPU seconds, peak RSS, tokens per second of wall time and the
speed-up over the first thread count. Every run must give the same cycles, FLOPs and
bytes. GCN on the ``collab`` stand-in at full size, unfused (the issue's workload):
``python benchmarks/sim_threads.py --dataset collab``; or ``--program P.ffir``.
"""

from __future__ import annotations

import json
import sys
import tempfile

from sim_spill import compiled, ff, program_args  # the same fresh-process runner and options


def main() -> None:
    ap = program_args(__doc__, "collab:scale=16")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ff-threads-bench-") as tmp:
        prog = compiled(args, tmp)
        ff("sim", "--warmup")  # the loops compiled before any run is timed
        print(f"{'round':>5} {'threads':>7} {'wall s':>8} {'cpu s':>8} {'peak GiB':>9} {'M tokens/s':>11} "
              f"{'speed-up':>8}  cycles")
        figures = set()
        for k in range(args.repeat):
            first = None
            for n in args.threads:
                code, out, wall, rss, cpu = ff("sim", str(prog), "--json", "--threads", str(n))
                if code:
                    sys.exit(f"ff sim --threads {n} failed (exit {code})")
                res = json.loads(out)
                figures.add((res["cycles"], res["flops"], res["bytes_moved"], res["tokens_moved"]))
                first = first or wall
                print(f"{k + 1:>5} {n:>7} {wall:>8.1f} {cpu:>8.1f} {rss / 2**30:>9.2f} "
                      f"{res['tokens_moved'] / wall / 1e6:>11.1f} {first / wall:>7.2f}x  {res['cycles']:,}", flush=True)
        if len(figures) != 1:
            sys.exit(f"the runs disagree: {sorted(figures)}")
        print("figures identical in every run")


if __name__ == "__main__":
    main()
