"""The fast engine uses the reference's compact HBM model (:class:`fuseflow.sim.memory.Memory`)."""

from __future__ import annotations

from fuseflow.sim.memory import Memory as FastMemory

__all__ = ["FastMemory"]
