"""The output rebuild both engines share: records in, tensors out, clear errors on a
record that does not parse."""

from __future__ import annotations

import numpy as np
import pytest
from fuseflow.ir.errors import SimulationError
from fuseflow.ir.formats import TensorFormat
from fuseflow.ir.program import TensorDecl, TensorRole
from fuseflow.ir.tokens import parse_tokens
from fuseflow.sim.outputs import encode, rebuild

CSR = TensorDecl("C", (3, 4), TensorFormat.parse("dc"), TensorRole.OUTPUT)


def _levels(*streams: str) -> dict[int, np.ndarray]:
    return {lv: encode(parse_tokens(s)) for lv, s in enumerate(streams)}


def test_csr_from_tokens_and_from_codes():
    # row 0: (0,1)=1, (0,3)=2; row 1 empty; row 2: (2,0)=3. Level 0 is dense (no writer).
    levels = {1: encode(parse_tokens("1 3 S0 S0 0 S1 D"))}
    want = np.array([[0, 1, 0, 2], [0, 0, 0, 0], [3, 0, 0, 0]], np.float32)
    vals = [np.float32(1), np.float32(2), np.float32(3)]
    assert np.array_equal(rebuild(CSR, levels, vals).to_dense(), want)
    codes = np.array([-6, -6, -6, -1], np.int64)  # C_VAL x3, then D
    got = rebuild(CSR, levels, (codes, np.array([1, 2, 3, 0], np.float32)))
    assert np.array_equal(got.to_dense(), want)


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
