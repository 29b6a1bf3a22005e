"""Peak memory, wall time and disk traffic of ``ff sim`` with queues that overflow to disk.

With the memory model on, GCN's adjacency values run far ahead of the gathered rows and
the queues between them hold tens of millions of tokens; ``--spill-at`` bounds them in
RAM. This compiles a model once, then runs ``ff sim`` (fast engine, default hw) in a
fresh process per ``--spill-at`` value and prints its wall time, peak RSS (the child's
own rusage) and the tokens that went through disk. Run (big sizes: one at a time on a
shared machine, e.g. under ``flock /tmp/ff-bigrun.lock``):
``python benchmarks/sim_spill.py --dataset random:nodes=30000,density=0.00027,seed=1,features=128
--fusion unfused --spill-at 0 4194304``
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CLI = "import sys; from fuseflow.ir.cli import main; main(sys.argv[1:])"


def ff(*args: str) -> tuple[int, str, float, int, float]:
    """Exit code, stdout, wall seconds, peak RSS bytes and CPU seconds of one ``ff`` run."""
    t0 = time.perf_counter()
    p = subprocess.Popen([sys.executable, "-c", CLI, *args], stdout=subprocess.PIPE, text=True)
    out = p.stdout.read() if p.stdout else ""
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, out, time.perf_counter() - t0, usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime


def program_args(doc: str | None, dataset: str) -> argparse.ArgumentParser:
    """The options of a benchmark that simulates one program: a model to compile, or ``--program``."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="gcn")
    ap.add_argument("--dataset", default=dataset)
    ap.add_argument("--fusion", default="unfused")
    ap.add_argument("--program", type=Path, help="simulate this compiled program instead of compiling one")
    return ap


def compiled(args: argparse.Namespace, tmp: str) -> Path:
    """``--program``, or the model compiled into ``tmp``."""
    if args.program is not None:
        return Path(args.program)
    prog = Path(tmp) / "p.ffir"
    code, _, wall, rss, _ = ff("compile", args.model, "--dataset", args.dataset, "--fusion", args.fusion, "-o", str(prog))
    if code:
        sys.exit(f"compile failed (exit {code})")
    print(f"compiled {args.model} {args.fusion} on {args.dataset}: {wall:.1f} s, peak {rss / 2**30:.2f} GiB")
    return prog


def main() -> None:
    ap = program_args(__doc__, "random:nodes=8000,density=0.001,seed=1,features=128")
    ap.add_argument("--spill-at", type=int, nargs="+", default=[0, 1 << 22])
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="ff-spill-bench-") as tmp:
        prog = compiled(args, tmp)
        print(f"{'spill-at':>10} {'wall s':>8} {'peak GiB':>9} {'spilled tokens':>15} {'disk GiB':>9}  cycles")
        for at in args.spill_at:
            code, out, wall, rss, _ = ff("sim", str(prog), "--show-queues", "--spill-at", str(at))
            spilled = sum(int(m.replace(",", "")) for m in re.findall(r"spilled ([\d,]+) tokens", out))
            m = re.search(r": (\d+) cycles", out)
            cycles = m.group(1) if m else f"exit {code}"
            print(f"{at:>10} {wall:>8.1f} {rss / 2**30:>9.2f} {spilled:>15,} {spilled * 20 / 2**30:>9.2f}  {cycles}")


if __name__ == "__main__":
    main()
