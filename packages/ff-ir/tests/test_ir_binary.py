"""The binary form (.ffir): exact round trips and clear errors for damaged files."""

from __future__ import annotations

import struct
import zlib

import pytest

from fuseflow.ir import io, protoconv
from fuseflow.ir._proto import fuseflow_ir_pb2 as pb
from fuseflow.ir.errors import IRFormatError, IRVersionError


def test_binary_round_trip(spmv, all_kinds):
    for prog in (spmv, all_kinds):
        blob = io.to_bytes(prog)
        assert blob[:4] == b"FFIR"
        assert io.from_bytes(blob) == prog


def test_binary_is_deterministic(spmv):
    assert io.to_bytes(spmv) == io.to_bytes(io.from_bytes(io.to_bytes(spmv)))


def _with_header(payload: bytes, major: int = 1, minor: int = 0) -> bytes:
    return io.HEADER.pack(io.MAGIC, major, minor, len(payload), zlib.crc32(payload)) + payload


def test_newer_major_version_is_refused(spmv):
    blob = io.to_bytes(spmv)
    newer = blob[:4] + struct.pack("<H", 2) + blob[6:]
    with pytest.raises(IRVersionError, match="newer"):
        io.from_bytes(newer, "f.ffir")
    msg = protoconv.program_to_pb(spmv, (3, 1))
    with pytest.raises(IRVersionError, match="3.1"):
        io.from_bytes(_with_header(msg.SerializeToString()), "f.ffir")


def test_newer_minor_version_reads(spmv):
    blob = _with_header(protoconv.program_to_pb(spmv, (1, 9)).SerializeToString(), 1, 9)
    assert io.from_bytes(blob).version == (1, 9)


@pytest.mark.parametrize("cut", [3, 10, 16, 40, -1])
def test_truncated_files(spmv, cut):
    blob = io.to_bytes(spmv)
    with pytest.raises(IRFormatError) as e:
        io.from_bytes(blob[:cut], "f.ffir")
    assert str(e.value).startswith("f.ffir: ")


def test_corrupt_payload_and_trailing_bytes(spmv):
    blob = bytearray(io.to_bytes(spmv))
    blob[30] ^= 0xFF
    with pytest.raises(IRFormatError, match="checksum"):
        io.from_bytes(bytes(blob), "f")
    with pytest.raises(IRFormatError, match="unexpected bytes"):
        io.from_bytes(io.to_bytes(spmv) + b"xx", "f")


def test_well_formed_payload_with_bad_values():
    msg = pb.Program()
    msg.version.major = 1
    t = msg.program.tensors.add(name="A", role=1, dtype=1)
    t.shape.extend([2, 2])
    t.format.levels.extend([1, 9])  # 9 is no level format
    with pytest.raises(IRFormatError, match="tensor 'A'"):
        io.from_bytes(_with_header(msg.SerializeToString()), "f")
    msg.program.tensors[0].format.levels[1] = 3  # singleton second: fine
    msg.program.tensors[0].format.mode_order.extend([0, 0])  # not a permutation
    with pytest.raises(IRFormatError, match="permutation"):
        io.from_bytes(_with_header(msg.SerializeToString()), "f")


def test_proto_enums_match_python_enums():
    """protoconv numbers members in declaration order; the .proto must list them the same way."""
    for cls, proto_name in protoconv.PROTO_ENUMS.items():
        desc = pb.DESCRIPTOR.enum_types_by_name[proto_name]
        proto_members = [v.name for v in desc.values if v.number != 0]
        assert len(proto_members) == len(cls), proto_name
        for member, pname in zip(cls, proto_members, strict=True):
            assert pname.endswith(member.name) or pname.endswith(member.value.upper()), (member, pname)
