"""Cost-model error against the simulator, per model (``python benchmarks/dse_costmodel.py [STORE]``).

Without a STORE it runs the demo sizes (``fuseflow.dse.sizes.DEMO``) x unfused/partial/full
in this process; with one it reads the results a sweep recorded (each holds the estimate).
"""

from __future__ import annotations

import sys

from fuseflow.dse.costmodel import relative_error
from fuseflow.dse.evaluate import evaluate
from fuseflow.dse.report import cost_model_errors
from fuseflow.dse.sizes import DEMO
from fuseflow.dse.store import Store
from fuseflow.dse.studies import workload_configs


def main() -> None:
    if len(sys.argv) > 1:
        results = Store(sys.argv[1]).results()
    else:
        results = []
        for cfg in workload_configs(DEMO):
            r = evaluate(cfg)
            results.append(r)
            if r.ok and r.estimate and r.flops and r.bytes_moved:
                print(f"{cfg.label():60s} flops err {relative_error(r.estimate.flops, r.flops):6.1%}  "
                      f"bytes err {relative_error(r.estimate.bytes, r.bytes_moved):6.1%}", flush=True)
            else:
                print(f"{cfg.label():60s} {r.status.value}: {r.error[:100]}", flush=True)
    for model, (f, b, n) in sorted(cost_model_errors(results).items()):
        print(f"{model:14s} mean FLOPs error {f:6.1%}  mean bytes error {b:6.1%}  ({n} configs)")


if __name__ == "__main__":
    main()
