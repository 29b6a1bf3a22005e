"""Stream tokens: a typed union of payload, stop(level), empty (N) and done (D).

Payloads are plain Python ``int`` (crd/ref), ``float`` (scalar values) or numpy
arrays (BxB tiles in blocked mode). The text form ``1 2 S0 3 S1 D`` is for printing
and test literals only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

import numpy as np

from fuseflow.ir.errors import IRFormatError


@dataclass(frozen=True, slots=True)
class Stop:
    """``Sk``: closes the current fiber and ``level`` enclosing ones."""

    level: int

    def __str__(self) -> str:
        return f"S{self.level}"


class Marker(enum.Enum):
    """The two payload-free control tokens."""

    EMPTY = "N"
    DONE = "D"

    def __str__(self) -> str:
        return self.value


EMPTY = Marker.EMPTY
DONE = Marker.DONE

Payload = int | float | np.ndarray
Token = int | float | np.ndarray | Stop | Marker


def is_stop(tok: object) -> bool:
    return type(tok) is Stop


def is_payload(tok: object) -> bool:
    return not isinstance(tok, (Stop, Marker))


def format_token(tok: Token) -> str:
    if isinstance(tok, (Stop, Marker)):
        return str(tok)
    if isinstance(tok, np.ndarray):
        return "[" + ",".join(format_token(float(x)) for x in tok.ravel()) + "]"
    if isinstance(tok, (bool, np.bool_)):
        raise TypeError("booleans are not stream tokens")
    if isinstance(tok, (int, np.integer)):
        return str(int(tok))
    f = float(tok)
    return repr(f) if not f.is_integer() else f"{f:.1f}"


def format_tokens(tokens: list[Token]) -> str:
    return " ".join(format_token(t) for t in tokens)


def parse_token(text: str) -> Token:
    if text == "D":
        return DONE
    if text == "N":
        return EMPTY
    if text.startswith("S") and text[1:].isdigit():
        return Stop(int(text[1:]))
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        raise IRFormatError(f"not a stream token: {text!r} (expected an int, a float, Sk, N or D)") from None


def parse_tokens(text: str) -> list[Token]:
    """Parse ``"1 2 S0 3 S1 D"`` into tokens (ints stay ints, ``1.5`` is a float)."""
    return [parse_token(t) for t in text.split()]
