"""Comal's event counters, plus the figures derived from them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass
class Counters:
    """Counts of one primitive, kernel or program. A tile op is one ALU/reduce op but B^2
    FLOPs (2B^3 for a tile matmul); memory counters are in words (a tile is B^2 words)."""

    alu_ops: int = 0
    reduce_ops: int = 0
    flops: int = 0
    val_reads: int = 0
    val_writes: int = 0
    crd_reads: int = 0
    seg_reads: int = 0
    crd_writes: int = 0
    seg_writes: int = 0
    tokens: int = 0  # tokens sent over channels

    def add(self, other: Counters) -> None:
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def words_moved(self) -> int:
        return (self.val_reads + self.val_writes + self.crd_reads + self.seg_reads
                + self.crd_writes + self.seg_writes)

    def bytes_moved(self, word_bytes: int = 4) -> int:
        return self.words_moved() * word_bytes

    def as_dict(self) -> dict[str, int]:
        return asdict(self)
