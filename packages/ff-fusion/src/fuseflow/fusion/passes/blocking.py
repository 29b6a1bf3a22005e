"""Sparsity blocking: values become BxB dense tiles (the block size is a capture option)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from fuseflow.fusion.builder import GraphBuilder
from fuseflow.fusion.passes import Knob

BLOCK_SIZES = (None, 16, 32, 64)


@dataclass
class Blocking:
    name: ClassVar[str] = "blocking"
    block: int | None = None

    @staticmethod
    def knobs() -> list[Knob]:
        return [Knob("block", BLOCK_SIZES, "BxB value tiles for block-structured tensors (None = scalar)")]

    def apply(self, b: GraphBuilder) -> None:
        """Tiles are decided by the tensors' block formats at capture; nothing to rewrite here."""
