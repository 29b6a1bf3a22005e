"""Seeded fuzzing: damaged or random input raises only FuseFlowError subclasses."""

from __future__ import annotations

import random
import zlib

import pytest

from fuseflow.ir import io, tortilla
from fuseflow.ir.errors import FuseFlowError
from fuseflow.ir.verify import verify_program

ROUNDS = 300


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        choice = rng.random()
        if not b:
            break
        i = rng.randrange(len(b))
        if choice < 0.4:
            b[i] = rng.randrange(256)
        elif choice < 0.6:
            del b[i: i + rng.randint(1, 8)]
        elif choice < 0.8:
            b[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        else:
            b = b[: rng.randrange(len(b) + 1)]
    return bytes(b)


def _reseal(data: bytes) -> bytes:
    """Fix up the binary header so the damaged payload reaches the protobuf decoder."""
    payload = data[io.HEADER.size:]
    return io.HEADER.pack(io.MAGIC, 1, 0, len(payload), zlib.crc32(payload)) + payload


def _only_fuseflow_errors(data: bytes) -> None:
    try:
        prog = io.from_any(data, "fuzz")
    except FuseFlowError as e:
        assert "\n" not in str(e)
        return
    # whatever parses must also print and verify without crashing
    io.to_text(prog)
    try:
        verify_program(prog)
    except FuseFlowError:
        pass


@pytest.mark.parametrize("form", ["binary", "resealed", "text", "tortilla"])
def test_mutations_raise_only_fuseflow_errors(form, spmv, all_kinds):
    rng = random.Random(f"fuseflow-{form}")
    seeds = []
    for prog in (spmv, all_kinds):
        if form in ("binary", "resealed"):
            seeds.append(io.to_bytes(prog))
        elif form == "text":
            seeds.append(io.to_text(prog).encode())
        else:
            seeds.append(tortilla.program_to_tortilla(prog))
    for n in range(ROUNDS):
        data = _mutate(rng, seeds[n % len(seeds)])
        if form == "resealed" and data.startswith(io.MAGIC):
            data = _reseal(data)
        _only_fuseflow_errors(data)


def test_random_bytes_raise_only_fuseflow_errors():
    rng = random.Random(7)
    for _ in range(ROUNDS):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 400)))
        prefix = rng.choice([b"", io.MAGIC, b"fuseflow-ir 1.0\n", b"fuseflow-ir 1.0\nkernel k\n  node 0 "])
        _only_fuseflow_errors(prefix + data)


def test_random_text_lines_raise_only_fuseflow_errors(spmv):
    rng = random.Random(11)
    lines = io.to_text(spmv).splitlines()
    alphabet = "abcxyz019 .,:;=[]()\"\\-+#@>"
    for _ in range(ROUNDS):
        body = list(lines)
        i = rng.randrange(1, len(body))
        junk = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        body[i] = rng.choice([junk, body[i][: rng.randrange(len(body[i]) + 1)], body[i] + junk])
        _only_fuseflow_errors(("\n".join(body) + "\n").encode())


def test_files_on_disk(tmp_path):
    rng = random.Random(3)
    for n in range(20):
        path = tmp_path / f"junk{n}{rng.choice(['.ffir', '.fftxt', '.tortilla', '.pb', ''])}"
        path.write_bytes(bytes(rng.randrange(256) for _ in range(rng.randint(0, 3000))))
        with pytest.raises(FuseFlowError):
            io.load(path)
    with pytest.raises(FuseFlowError, match="cannot read"):
        io.load(tmp_path / "missing.ffir")
