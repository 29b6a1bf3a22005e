"""fuseflow.sim: cycle-level simulation of SAM dataflow programs (Comal's timing model)."""

from fuseflow.sim.api import simulate
from fuseflow.sim.counters import Counters
from fuseflow.sim.hw import HwConfig, load_hw
from fuseflow.sim.result import KernelResult, SimResult

__all__ = ["Counters", "HwConfig", "KernelResult", "SimResult", "load_hw", "simulate"]
