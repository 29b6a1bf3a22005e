"""Cost-model error against the simulator, per model (``python benchmarks/dse_costmodel.py [STORE]``).

Without a STORE it compiles and simulates the ``ff demo`` workloads and the Figure 12
``--mode fast`` workloads (x unfused/partial/full) in this process and prints the mean error
per model for each set, and the estimate's and the simulation's wall time; with a STORE it
reads the results a sweep recorded (each holds its estimate).
"""

from __future__ import annotations

import sys
import time

from fuseflow.dse.costmodel import estimate, relative_error
from fuseflow.dse.evaluate import compile_config
from fuseflow.dse.report import cost_model_errors
from fuseflow.dse.result import Result, Status
from fuseflow.dse.sizes import DEMO, figure12_workloads
from fuseflow.dse.store import Store
from fuseflow.dse.studies import workload_configs
from fuseflow.sim import simulate


def _measure(name: str, configs: list) -> None:  # type: ignore[type-arg]
    results, t_est, t_sim = [], 0.0, 0.0
    for cfg in configs:
        program = compile_config(cfg)
        t0 = time.perf_counter()
        est = estimate(program)
        t1 = time.perf_counter()
        sim = simulate(program, hw=cfg.hw)
        t_est, t_sim = t_est + t1 - t0, t_sim + time.perf_counter() - t1
        results.append(Result(cfg, cfg.key(), Status.OK, cycles=float(sim.cycles), flops=float(sim.flops),
                              bytes_moved=float(sim.bytes_moved), estimate=est))
        print(f"  {cfg.label()[:70]:70s} FLOPs {relative_error(est.flops, sim.flops):6.2%}  "
              f"bytes {relative_error(est.bytes, sim.bytes_moved):6.2%}", flush=True)
    print(f"{name}: estimates {t_est:.2f} s, simulations {t_sim:.2f} s")
    _table(results)


def _table(results: list[Result]) -> None:
    for model, (f, b, n) in sorted(cost_model_errors(results).items()):
        print(f"  {model:14s} mean FLOPs error {f:6.2%}  mean bytes error {b:6.2%}  ({n} configs)")


def main() -> None:
    if len(sys.argv) > 1:
        with Store(sys.argv[1]) as st:
            _table(st.results())
        return
    _measure("ff demo workloads", workload_configs(DEMO))
    _measure("figure12 --mode fast workloads", workload_configs(figure12_workloads("fast")))


if __name__ == "__main__":
    main()
