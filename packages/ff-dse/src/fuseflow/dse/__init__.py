"""fuseflow.dse: design-space exploration (configs, sweeps, store, cost model, pruning, reports)."""

from fuseflow.dse.config import Config
from fuseflow.dse.result import Estimate, Result, Status

__all__ = ["Config", "Estimate", "Result", "Status"]
