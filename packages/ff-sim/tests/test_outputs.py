"""The output rebuild both engines share: records in, tensors out, clear errors on a
record that does not parse."""

from __future__ import annotations

import numpy as np
import pytest
from fuseflow.ir.errors import SimulationError
from fuseflow.ir.formats import TensorFormat
from fuseflow.ir.program import TensorDecl, TensorRole
from fuseflow.ir.tokens import parse_tokens
from fuseflow.sim.fast.rebuild import LevelRecord
from fuseflow.sim.outputs import DenseLevel, encode, rebuild

CSR = TensorDecl("C", (3, 4), TensorFormat.parse("dc"), TensorRole.OUTPUT)


def _levels(*streams: str) -> dict[int, np.ndarray]:
    return {lv: encode(parse_tokens(s)) for lv, s in enumerate(streams)}


def test_csr_from_tokens_and_from_codes():
    # row 0: (0,1)=1, (0,3)=2; row 1 empty; row 2: (2,0)=3. Level 0 is dense (no writer).
    levels = {1: encode(parse_tokens("1 3 S0 S0 0 S1 D"))}
    want = np.array([[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 0, 0]], np.float32)
    vals = [np.float32(1), np.float32(2), np.float32(3)]
    assert np.array_equal(rebuild(CSR, levels, vals).to_dense(), want)
    got = rebuild(CSR, levels, np.array([1, 2, 3], np.float32))  # the fast engine's record
    assert np.array_equal(got.to_dense(), want)


DENSE = "0 1 2 S0 D", "0 1 2 3 S0 0 1 2 3 S0 0 1 2 3 S1 D"


@pytest.mark.parametrize("spec", ["dd", "dd@1,0"])
def test_an_all_dense_output_stays_a_dense_array(spec):
    decl = TensorDecl("C", (3, 4) if spec == "dd" else (4, 3), TensorFormat.parse(spec), TensorRole.OUTPUT)
    vals = np.arange(12, dtype=np.float32)
    got = rebuild(decl, _levels(*DENSE), vals)
    assert got.dense is not None and got.coords is None
    want = vals.reshape(3, 4) if spec == "dd" else vals.reshape(3, 4).T
    assert np.array_equal(got.dense, want)
    assert np.array_equal(rebuild(decl, {}, vals).dense, want)  # no level writers: the same


def test_three_dense_levels_as_the_dense_scanner_makes_them_are_a_dense_array():
    from fuseflow.sim.fast.rebuild import dense_level

    parent, levels = np.zeros(1, np.int64), {}
    for lv, d in enumerate((2, 3, 4)):
        out = np.empty(64, np.int64)
        levels[lv] = parent = out[:dense_level(parent, d, out)]
    decl = TensorDecl("C", (2, 3, 4), TensorFormat.parse("ddd"), TensorRole.OUTPUT)
    got = rebuild(decl, levels, np.arange(24, dtype=np.float32))
    assert got.dense is not None and np.array_equal(got.dense, np.arange(24).reshape(2, 3, 4))


def test_a_dense_level_record_keeps_one_code_per_fiber():
    codes = _levels(*DENSE)[1]
    rec = LevelRecord(4)
    for part in np.array_split(codes, 5):  # chunks that cut fibers
        rec.add(part)
    squeezed = rec.result()
    assert isinstance(squeezed, DenseLevel) and squeezed.stops.tolist() == [-8, -8, -9]
    decl = TensorDecl("C", (3, 4), TensorFormat.parse("dd"), TensorRole.OUTPUT)
    vals = np.arange(12, dtype=np.float32)
    assert rebuild(decl, {1: squeezed}, vals) == rebuild(decl, _levels(*DENSE), vals)
    # a stream that is not dense (an N) keeps its codes, whole
    odd = encode(parse_tokens("0 1 2 3 S0 N S0 0 1 2 3 S1 D"))
    rec = LevelRecord(4)
    for part in np.array_split(odd, 4):
        rec.add(part)
    assert np.array_equal(rec.result(), odd)


def test_a_dense_output_whose_stops_do_not_match_is_parsed_and_named():
    decl = TensorDecl("C", (3, 4), TensorFormat.parse("dd"), TensorRole.OUTPUT)
    levels = _levels("0 1 2 S0 D", "0 1 2 3 S0 0 1 2 3 S1 0 1 2 3 S1 D")
    with pytest.raises(SimulationError, match="output C: level 1 stream does not match level 0"):
        rebuild(decl, levels, np.arange(12, dtype=np.float32))


@pytest.mark.parametrize("streams,msg", [
    (("0 1 S0 D", "0 S0 2"), "level 1 stream does not match level 0: stream ends inside a fiber"),
    (("0 1 S0 D", "0 S1 D"), "level 1 stream does not match level 0: S1 does not close a parent fiber"),
    (("0 S0 S1 D", "0 S0 S1 D"), "level 1 stream does not match level 0: expected S2 for the parent's S1"),
])
def test_a_record_that_does_not_parse_is_named(streams, msg):
    decl = TensorDecl("C", (3, 4), TensorFormat.parse("cc"), TensorRole.OUTPUT)
    with pytest.raises(SimulationError, match=f"output C: {msg}"):
        rebuild(decl, _levels(*streams), [np.float32(1)] * 4)


def test_values_must_match_coordinates():
    with pytest.raises(SimulationError, match="output C: 2 coordinates but 1 values were written"):
        rebuild(CSR, {1: encode(parse_tokens("1 S0 S0 0 S1 D"))}, [np.float32(1)])
