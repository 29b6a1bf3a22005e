"""Sparse tensor formats: per-level dense / compressed / singleton, level order, block shape."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from fuseflow.ir.errors import IRFormatError


class LevelFormat(enum.Enum):
    DENSE = "dense"
    COMPRESSED = "compressed"
    SINGLETON = "singleton"

    @property
    def letter(self) -> str:
        return {"dense": "d", "compressed": "c", "singleton": "s"}[self.value]

    @classmethod
    def from_letter(cls, ch: str) -> LevelFormat:
        for f in cls:
            if f.letter == ch:
                return f
        raise IRFormatError(f"unknown level format letter {ch!r} (expected d, c or s)")


class DType(enum.Enum):
    FLOAT32 = "f32"
    FLOAT64 = "f64"
    INT64 = "i64"
    BOOL = "bool"


@dataclass(frozen=True)
class TensorFormat:
    """How a tensor is stored.

    ``levels[l]`` is the format of storage level ``l``; level ``l`` holds tensor mode
    ``mode_order[l]``. With ``block`` set, levels index blocks and values are dense
    tiles of that shape.
    """

    levels: tuple[LevelFormat, ...]
    mode_order: tuple[int, ...] = ()
    block: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        if not self.mode_order:
            object.__setattr__(self, "mode_order", tuple(range(len(self.levels))))
        if sorted(self.mode_order) != list(range(len(self.levels))):
            raise IRFormatError(
                f"mode order {self.mode_order} is not a permutation of 0..{len(self.levels) - 1}"
            )
        if self.levels and self.levels[0] is LevelFormat.SINGLETON:
            raise IRFormatError("a singleton level cannot be the first level")
        if self.block is not None and len(self.block) != len(self.levels):
            raise IRFormatError(f"block shape {self.block} does not match {len(self.levels)} levels")

    @property
    def order(self) -> int:
        return len(self.levels)

    @property
    def is_dense(self) -> bool:
        return all(lv is LevelFormat.DENSE for lv in self.levels)

    def with_block(self, block: tuple[int, ...] | None) -> TensorFormat:
        return TensorFormat(self.levels, self.mode_order, block)

    def permuted(self, mode_order: tuple[int, ...]) -> TensorFormat:
        return TensorFormat(self.levels, mode_order, self.block)

    def spec(self) -> str:
        """Compact text: ``dc`` (CSR), ``cc@1,0`` (DCSC), ``dc#16x16`` (BSR 16)."""
        s = "".join(lv.letter for lv in self.levels)
        if self.mode_order != tuple(range(self.order)):
            s += "@" + ",".join(map(str, self.mode_order))
        if self.block is not None:
            s += "#" + "x".join(map(str, self.block))
        return s

    @classmethod
    def parse(cls, text: str) -> TensorFormat:
        """Parse :meth:`spec` output or a named format (CSR, CSC, DCSR, COO, DENSE, BSR16, ...)."""
        if not text.strip():
            raise IRFormatError("empty format")
        named = named_format(text)
        if named is not None:
            return named
        return cls.from_spec(text)

    @classmethod
    def from_spec(cls, text: str) -> TensorFormat:
        """Parse exactly :meth:`spec` output (no named formats; ``-`` or ``""`` is order 0)."""
        body = text.strip()
        block = None
        if "#" in body:
            body, b = body.split("#", 1)
            try:
                block = tuple(int(x) for x in b.split("x")) if b else ()
            except ValueError:
                raise IRFormatError(f"bad block shape in format {text!r}") from None
        order: tuple[int, ...] = ()
        if "@" in body:
            body, o = body.split("@", 1)
            try:
                order = tuple(int(x) for x in o.split(","))
            except ValueError:
                raise IRFormatError(f"bad mode order in format {text!r}") from None
        if body == "-":
            body = ""
        levels = tuple(LevelFormat.from_letter(ch) for ch in body)
        return cls(levels, order or tuple(range(len(levels))), block)

    def __str__(self) -> str:
        return self.spec()


def dense(order: int) -> TensorFormat:
    return TensorFormat((LevelFormat.DENSE,) * order)


D, C, S = LevelFormat.DENSE, LevelFormat.COMPRESSED, LevelFormat.SINGLETON

NAMED_FORMATS: dict[str, TensorFormat] = {
    "SCALAR": TensorFormat(()),
    "DENSE1": TensorFormat((D,)),
    "SPARSEVEC": TensorFormat((C,)),
    "DENSE": TensorFormat((D, D)),
    "CSR": TensorFormat((D, C)),
    "CSC": TensorFormat((D, C), (1, 0)),
    "DCSR": TensorFormat((C, C)),
    "DCSC": TensorFormat((C, C), (1, 0)),
    "COO": TensorFormat((C, S)),
}


def named_format(text: str) -> TensorFormat | None:
    key = text.strip().upper()
    if key in NAMED_FORMATS:
        return NAMED_FORMATS[key]
    for prefix, base in (("BSR", NAMED_FORMATS["CSR"]), ("BDCSR", NAMED_FORMATS["DCSR"])):
        if key.startswith(prefix) and key[len(prefix):].isdigit():
            b = int(key[len(prefix):])
            return base.with_block((b, b))
    return None
