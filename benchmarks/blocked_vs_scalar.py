"""Blocked vs scalar BigBird attention: the same block-sparse mask streamed as BxB tiles
(``--block B``) or as unstructured scalar sparsity. Prints cycles of the attention kernel
and the ratio per block size, measured side by side in one run.

    python benchmarks/blocked_vs_scalar.py [--seq 128] [--d-model 64] [--heads 2] [--blocks 16,32] [--engine fast]
"""

from __future__ import annotations

import argparse
import time

from fuseflow.fusion.api import compile_model
from fuseflow.sim import simulate


def attention_cycles(seq: int, d_model: int, heads: int, block: int, tiled: bool,
                     engine: str = "fast") -> tuple[int, str]:
    opts = {"decoders": "1", "seq": str(seq), "d_model": str(d_model), "heads": str(heads), "block": str(block)}
    res = compile_model("gpt3-bigbird", opts, None, "partial", block=block if tiled else None)
    r = simulate(res.program, hw="default", engine=engine, check=True)
    attn = [k for k in r.kernels if "attn" in k.name]
    return sum(k.cycles for k in attn), str(r.check)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--d-model", type=int, default=64)
    ap.add_argument("--heads", type=int, default=2)
    ap.add_argument("--blocks", default="16,32")
    ap.add_argument("--engine", default="fast", help="simulation engine (fast or reference)")
    a = ap.parse_args()
    print(f"BigBird attention, seq {a.seq}, d_model {a.d_model}, {a.heads} heads, default hw")
    print(f"{'B':>4} {'scalar cycles':>14} {'blocked cycles':>15} {'ratio':>7}  check  wall")
    for b in (int(x) for x in a.blocks.split(",")):
        t = time.time()
        sc, c1 = attention_cycles(a.seq, a.d_model, a.heads, b, tiled=False, engine=a.engine)
        bc, c2 = attention_cycles(a.seq, a.d_model, a.heads, b, tiled=True, engine=a.engine)
        print(f"{b:>4} {sc:>14} {bc:>15} {sc / bc:>7.1f}  {c1}/{c2}  {time.time() - t:.0f}s", flush=True)


if __name__ == "__main__":
    main()
