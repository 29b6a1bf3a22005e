"""The fast engine: the reference engine's exact figures, computed stream by stream."""

from fuseflow.sim.fast.engine import FastEngine

__all__ = ["FastEngine"]
