"""Compile and simulate one model under several fusions, end to end, the way a user runs them.

    python benchmarks/fusions_end_to_end.py                      # GCN on cora: unfused, partial, full
    python benchmarks/fusions_end_to_end.py --dataset karate
    python benchmarks/fusions_end_to_end.py --fusions unfused,partial --max-gib 8
    python benchmarks/fusions_end_to_end.py -m features=csr --check
    python benchmarks/fusions_end_to_end.py --jobs 2     # the fusions side by side, one per core

Each fusion runs ``ff compile`` then ``ff sim --engine ENGINE --json`` as child processes;
the script reports their wall times, cycles, tokens and the child's peak memory, and the
total wall time. A child whose resident memory passes ``--max-gib`` is stopped and
reported as such. ``--jobs N`` runs up to N fusions at once (each its compile, then its
simulation), as a study on this machine would.

Fully fused GCN recomputes layer 1 per nonzero of A. With cora's dense features that
streams all 1433 features for every (row, neighbour) pair; ``-m features=csr`` streams
only X's nonzeros (1.27% on cora). ``--order full=i,j,...`` runs the old default order,
which recomputes the softmax's row max and sum for every class.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def _rss_gib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 2**20
    except OSError:
        pass
    return 0.0


def _run(cmd: list[str], max_gib: float, timeout: float) -> tuple[float, float, str, str | None]:
    """(wall s, peak GiB, stdout, None or why it was stopped)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        peak, why = 0.0, None
        while p.poll() is None:
            peak = max(peak, _rss_gib(p.pid))
            if peak > max_gib:
                why = f"stopped at {peak:.1f} GiB (over --max-gib {max_gib:g})"
            elif time.perf_counter() - t0 > timeout:
                why = f"stopped after {timeout:g} s (--timeout)"
            if why:
                p.kill()
                p.wait()
                break
            time.sleep(0.2)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        text = out.read().decode()
        if why is None and p.returncode != 0:
            why = f"exit {p.returncode}: {err.read().decode().strip().splitlines()[-1:]}"
    return wall, peak, text, why


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gcn")
    ap.add_argument("--dataset", default="cora")
    ap.add_argument("--fusions", default="unfused,partial,full")
    ap.add_argument("--engine", default="fast")
    ap.add_argument("--hw", default="default")
    ap.add_argument("-m", "--model-opt", action="append", default=[], help="model option KEY=VALUE")
    ap.add_argument("--order", action="append", default=[], metavar="FUSION=ORDER",
                    help="ff compile --order for one fusion (repeatable)")
    ap.add_argument("--check", action="store_true", help="ff sim --check (compare with PyTorch)")
    ap.add_argument("--max-gib", type=float, default=8.0, help="stop a child above this resident memory")
    ap.add_argument("--timeout", type=float, default=1800.0, help="stop a child after this many seconds")
    ap.add_argument("-j", "--jobs", type=int, default=1, help="fusions run at once (each compile, then simulate)")
    args = ap.parse_args()
    orders = dict(o.split("=", 1) for o in args.order if "=" in o)
    if len(orders) != len(args.order):
        ap.error("--order takes FUSION=ORDER, e.g. full=i,k1,...")
    opts = [x for kv in args.model_opt for x in ("-m", kv)]
    ff = [sys.executable, "-c", "from fuseflow.ir.cli import main; main()"]
    print(f"{args.model}/{args.dataset} {' '.join(args.model_opt)}, engine {args.engine}, hw {args.hw}"
          + (f", {args.jobs} jobs" if args.jobs > 1 else "")
          + "".join(f", {f} order {o}" for f, o in orders.items()), flush=True)
    print(f"{'fusion':10s} {'compile':>8s} {'simulate':>9s} {'cycles':>14s} {'tokens':>15s} {'peak':>9s}")
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        def one(fusion: str) -> str:
            prog = str(Path(d) / f"{fusion}.ffir")
            order = ["--order", orders[fusion]] if fusion in orders else []
            tc, _, _, why = _run(ff + ["compile", args.model, *opts, "--dataset", args.dataset, "--fusion", fusion,
                                       *order, "-o", prog], args.max_gib, args.timeout)
            if why:
                return f"{fusion:10s} compile {why}"
            check = ["--check"] if args.check else []
            ts, peak, text, why = _run(ff + ["sim", prog, "--engine", args.engine, "--hw", args.hw, "--json",
                                             *check], args.max_gib, args.timeout)
            if why:
                return f"{fusion:10s} {tc:7.1f}s {ts:8.1f}s  {why}"
            res = json.loads(text)
            return (f"{fusion:10s} {tc:7.1f}s {ts:8.1f}s {res['cycles']:14,} {res['tokens_moved']:15,} "
                    f"{peak:7.2f}GiB" + (f"  check {res.get('check')}" if args.check else ""))

        fusions = args.fusions.split(",")
        with ThreadPoolExecutor(max(1, args.jobs)) as pool:  # threads only wait for child processes
            for line in pool.map(one, fusions):
                print(line, flush=True)
    print(f"total {time.perf_counter() - t0:.1f}s wall")

if __name__ == "__main__":
    main()
