"""Scenario files: schema, semantic checks with clear errors, variables, shipped and documented scenarios."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dc_verify.fake_api.scenario import scenario_names
from dc_verify.fake_api.sse import injection_points, resolve_point
from dc_verify.scripted_server import load_scenario


def test_every_shipped_scenario_loads() -> None:
    names = scenario_names()
    assert {"text_only", "bash_tool"} <= set(names)
    for name in names:
        assert load_scenario(name).name == name


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"name": "x"}, "'turns' is a required property"),
        ({"name": "x", "turns": [{"blocks": [{"type": "video"}]}]}, "unknown block type 'video'"),
        ({"name": "x", "turns": [{"blocks": [{"type": "text"}]}]}, "$.turns[0].blocks[0]: 'text' is a required property"),
        ({"name": "x", "turns": [{"blocks": [{"type": "text", "text": "a"}],
                                  "inject": [{"kind": "drop", "at": "after_block:3"}]}]}, "never reached"),
        ({"name": "x", "turns": [{"inject": [{"kind": "drop", "at": "sometime"}]}]}, "bad injection point 'sometime'"),
        ({"name": "x", "turns": [{"blocks": [{"type": "text", "text": "ab", "chunks": ["a"]}]}]}, "chunks do not join"),
        ({"name": "x", "turns": [{"blocks": [{"type": "text", "text": "${NOPE}"}]}]}, "unknown variable ${NOPE}"),
        ({"name": "x", "turns": [{"blocks": [{"type": "text", "text": "a", "truncated": True},
                                             {"type": "text", "text": "b"}]}]}, "only the last block"),
    ],
)
def test_bad_scenarios_raise_clear_value_errors(doc: dict[str, Any], needle: str) -> None:
    with pytest.raises(ValueError) as err:
        load_scenario(doc)
    assert needle in str(err.value)


def test_unknown_scenario_name_and_bad_file(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown scenario 'nope'"):
        load_scenario("nope")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        load_scenario(bad)
    good = tmp_path / "good.json"
    good.write_text(json.dumps({"name": "g", "variables": {"WORKDIR": "/w"},
                                "turns": [{"blocks": [{"type": "text", "text": "in ${WORKDIR}"}]}]}))
    assert load_scenario(good).turns[0].blocks[0]["text"] == "in /w"
    assert load_scenario(good, {"WORKDIR": str(tmp_path)}).turns[0].blocks[0]["text"] == f"in {tmp_path}"


def test_documented_example_scenario_loads() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "scenarios.md").read_text()
    example = doc.split("```json\n", 1)[1].split("```", 1)[0]
    scenario = load_scenario(json.loads(example), {"WORKDIR": "/w"})
    assert [inj.kind for inj in scenario.turns[0].inject] == ["error", "drop", "stall", "status", "malformed"]
    assert [inj.times for inj in scenario.turns[0].inject] == [1, 1, 1, 1, 1]
    assert scenario.turns[1].stop_reason == "end_turn"


def test_injection_points_cover_every_slot_and_resolve_in_order() -> None:
    turn = load_scenario("redacted_thinking").turns[0]
    plan = turn.plan()
    points = injection_points(plan)
    slots = [resolve_point(plan, p) for p in points]
    assert slots == sorted(slots) and slots[0] == 0 and slots[-1] == len(plan) - 1
    assert "in_block:1" in points and "after_block:3" in points  # redacted block 1, tool_use block 3
    assert resolve_point(plan, "in_block:1") == resolve_point(plan, "after_block_start:1")  # no deltas
    assert {resolve_point(plan, f"after_event:{n}") for n in range(len(plan) + 1)} == set(range(len(plan) + 1))
    with pytest.raises(ValueError, match="never reached"):
        resolve_point(plan, f"after_event:{len(plan) + 1}")
