"""One GPT-3 BigBird evaluation exactly as ``ff dse study figure12`` runs it
(``fuseflow.dse.evaluate.evaluate``: compile, simulate on the fast engine with kernel reuse,
check against PyTorch), with the simulator's per-kernel figures kept for the report's
explanations (docs/dse.md, "GPT-3 Small at paper size").

Writes OUT.json (cycles, FLOPs, bytes, check, reused kernels, wall and CPU seconds, peak RSS,
per-kernel cycles/FLOPs/bytes and per-primitive counters). Paper size needs 6-10 GiB: run it
under the big-run lock, e.g.
``(ulimit -v 20000000; flock /tmp/ff-bigrun.lock /usr/bin/time -v python benchmarks/gpt3_paper_size.py
full12.json full decoders=12 seq=1024 d_model=768 heads=12 block=64)``; ``--hw no-hbm`` for
the hardware without the memory model.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from typing import Any


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("fusion", choices=["unfused", "partial", "full"])
    ap.add_argument("options", nargs="*", help="model options KEY=VALUE (decoders, seq, d_model, heads, block)")
    ap.add_argument("--hw", default="default")
    a = ap.parse_args()

    import fuseflow.sim as fsim
    from fuseflow.dse.config import Config
    from fuseflow.dse.evaluate import evaluate

    captured: dict[str, Any] = {}
    simulate = fsim.simulate

    def keep(*args: Any, **kw: Any) -> Any:  # the study's own call, with its SimResult kept
        captured["sim"] = simulate(*args, **kw)
        return captured["sim"]

    fsim.simulate = keep  # type: ignore[assignment]  # evaluate() imports it from fuseflow.sim at call time
    opts = tuple(tuple(o.split("=", 1)) for o in a.options)
    cfg = Config("gpt3-bigbird", None, opts, fusion=a.fusion, hw=a.hw)  # type: ignore[arg-type]
    t0, r0 = time.time(), resource.getrusage(resource.RUSAGE_SELF)
    res = evaluate(cfg)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    out: dict[str, Any] = {
        "config": [a.fusion, [list(o) for o in opts]], "hw": a.hw, "status": res.status.value, "error": res.error,
        "cycles": res.cycles, "flops": res.flops, "bytes": res.bytes_moved, "check": res.check,
        "max_rel_error": res.max_rel_error, "reused": res.reused_kernels, "wall": time.time() - t0,
        "cpu": r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, "peak_rss": res.peak_rss,
        "kernel_cycles": [list(k) for k in res.kernel_cycles],
    }
    if "sim" in captured:
        sim = captured["sim"].to_json_dict()
        sim.pop("outputs", None)
        out["sim"] = sim
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    print(json.dumps({k: out[k] for k in ("status", "cycles", "check", "max_rel_error", "reused", "wall", "cpu",
                                          "peak_rss")}))


if __name__ == "__main__":
    main()
