from __future__ import annotations

import pytest
from fuseflow.dse.candidates import fusion_candidates, parse_spec
from fuseflow.dse.config import Config, parse_par
from fuseflow.dse.space import Knob, Space, build_space, load_space_file
from fuseflow.ir.errors import DataError, UnknownNameError


def test_canonical_form_and_key_are_stable() -> None:
    a = Config("gcn", "karate", (("b", "2"), ("a", "1")), "partial", par=(("i", 4),), block=16)
    b = Config("gcn", "karate", {"a": "1", "b": "2"}, "partial", par=[("i", "4")], block="16")  # type: ignore[arg-type]
    assert a == b
    assert a.canonical() == b.canonical()
    assert a.canonical() == ('{"block":16,"dataset":"karate","fusion":"partial","hw":"default",'
                             '"model":"gcn","options":{"a":"1","b":"2"},"order":null,"par":[["i",4]]}')
    assert a.key() == b.key() and len(a.key()) == 64
    assert a.key() != a.with_(fusion="full").key()
    assert Config.from_dict(a.to_dict()) == a


def test_key_includes_code_version(monkeypatch: pytest.MonkeyPatch) -> None:
    from fuseflow.dse import config

    c = Config("gcn")
    k1 = c.key()
    monkeypatch.setattr(config, "code_version", lambda: "ff-ir=9.9.9")
    assert c.key() != k1


def test_compile_command_reproduces_knobs() -> None:
    c = Config("gpt3-bigbird", None, (("seq", "128"),), "full", order="i,k,j", par=(("i", 2),), block=16)
    assert c.compile_command() == ("ff compile gpt3-bigbird -m seq=128 --fusion full --order i,k,j "
                                   "--par i:2 --block 16")


def test_parse_par() -> None:
    assert parse_par("i:4,j:2") == (("i", 4), ("j", 2))
    assert parse_par("none") == ()
    with pytest.raises(UnknownNameError):
        parse_par("i4")


KNOBS = [Knob("fusion", ("unfused", "partial", "full")), Knob("block", (None, 16, 32)),
         Knob("par", ("", "i:2", "i:4")), Knob("vectorize", ("on", "off"))]


def test_space_from_knobs_is_their_product() -> None:
    sp = Space.declare("gcn", KNOBS)
    assert sp.size() == 3 * 3 * 3 * 2
    cfgs = list(sp.configs())
    assert len({c.key() for c in cfgs}) == 54
    assert {dict(c.options)["vectorize"] for c in cfgs} == {"on", "off"}


@pytest.mark.parametrize("suffix,text", [
    (".yaml", "datasets: [karate, cora]\nfusion: [partial, full]\nblock: 16\noptions: {hidden: [8, 16]}\n"),
    (".toml", 'datasets = ["karate", "cora"]\nfusion = ["partial", "full"]\nblock = 16\n[options]\nhidden = [8, 16]\n'),
])
def test_space_file_narrows(tmp_path, suffix: str, text: str) -> None:
    f = tmp_path / f"space{suffix}"
    f.write_text(text)
    sp = build_space("gcn", space_file=f, settings=["par=i:2|none"], knobs=KNOBS)
    cfgs = list(sp.configs())
    assert len(cfgs) == 2 * 2 * 1 * 2 * 2 * 2  # datasets, fusion, block, par, hidden, vectorize
    assert {c.block for c in cfgs} == {16}
    assert {c.par for c in cfgs} == {(("i", 2),), ()}


def test_only_named_pins_other_knobs() -> None:
    sp = build_space("gcn", settings=["block=16,32"], knobs=KNOBS, only_named=True)
    assert sp.get("block") == (16, 32) and sp.get("par") == ((),) and len(sp.get("fusion")) == 3
    assert sp.size() == 3 * 2 * 1 * 1


def test_single_pair_par_knob_values_are_normalized() -> None:
    sp = Space.declare("gcn", [Knob("par", ((None, 1), (None, 2), ("i", 4)))])
    assert sp.get("par") == ((), ((None, 2),), (("i", 4),))
    assert parse_par("2") == ((None, 2),) and parse_par("*:2") == ((None, 2),)


def test_narrowing_outside_the_declared_space_is_an_error(tmp_path) -> None:
    with pytest.raises(UnknownNameError):
        build_space("gcn", settings=["block=64"], knobs=KNOBS)
    bad = tmp_path / "s.yaml"
    bad.write_text("colour: [red]\n")
    with pytest.raises(DataError):
        load_space_file(bad)


def test_fusion_candidates_are_contiguous_and_capped(gcn_layer) -> None:
    specs = fusion_candidates(gcn_layer, cap=2)
    groups = [[ops for _, ops in parse_spec(s)] for s in specs]
    assert groups == [[("xw", "ax"), ("relu",)], [("xw",), ("ax", "relu")], [("xw",), ("ax",), ("relu",)]]
    assert specs[0] == "g1=xw,ax;g2=relu"
    assert len(fusion_candidates(gcn_layer, cap=3)) == 4  # 2^(3-1) compositions
    assert len(fusion_candidates(gcn_layer, cap=3, limit=2)) == 2


def test_fusion_candidates_respect_view_barriers(gcn_layer) -> None:
    from dataclasses import replace

    tp = gcn_layer.program
    tp.tensors["AXWv"] = replace(tp.tensors["AXW"], name="AXWv", view_of="AXW")
    relu = tp.assignments[2]
    tp.assignments[2] = replace(relu, value=type(relu.value)(relu.value.op, type(relu.value.operand)("AXWv", ("i", "j"))))
    specs = fusion_candidates(gcn_layer, cap=3)
    assert all("relu" not in ops or len(ops) == 1 for s in specs for _, ops in parse_spec(s))


def test_generated_fusion_axis_expands(gcn_layer) -> None:
    sp = Space.declare("gcn", [Knob("fusion", ("unfused", "partial", "full"))]).narrow("fusion", ["candidates:2"])
    cfgs = list(sp.configs(expand=lambda cfg, v: fusion_candidates(gcn_layer, cap=int(v.split(":")[1]))))
    assert [c.fusion for c in cfgs][0] == "g1=xw,ax;g2=relu" and len(cfgs) == 3
