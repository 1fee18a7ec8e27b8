"""Tool substitution against the stand-in upstream tree's real tool groups: each toggle swaps exactly
its kind of tool for ours with the same name and API type; what we have no class for stays."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from dc_impl import substitution
from dc_impl.contract import FEATURES, TOOL_TOGGLES

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT / "examples") not in sys.path:
    sys.path.insert(0, str(ROOT / "examples"))

from computer_use_demo.tools.groups import TOOL_GROUPS_BY_VERSION  # noqa: E402


@dataclass
class Toggles:
    on: frozenset[str]

    def enabled(self, feature: str) -> bool:
        return feature in self.on


def names(classes: list[type]) -> list[str]:
    return [c.__name__ for c in classes]


@pytest.mark.parametrize("version", sorted(TOOL_GROUPS_BY_VERSION))
def test_each_toggle_swaps_only_its_kind(version: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WIDTH", "1024")
    monkeypatch.setenv("HEIGHT", "768")
    host = list(TOOL_GROUPS_BY_VERSION[version].tools)
    assert substitution.substitute_tool_classes(host, Toggles(frozenset())) == host
    everything = substitution.substitute_tool_classes(host, Toggles(frozenset(FEATURES)))
    for kind, feature in TOOL_TOGGLES.items():
        got = substitution.substitute_tool_classes(host, Toggles(frozenset({feature})))
        for before, after, full in zip(host, got, everything, strict=True):
            mine = before.name in substitution.KIND_NAMES[kind]
            assert (after is not before) is mine, (kind, before, after)
            assert after is (full if mine else before)
            # same model-facing definition: name and API type, and the same to_params()
            assert (after.name, after.api_type) == (before.name, before.api_type)
            if mine:
                assert after().to_params() == before().to_params(), (kind, before)


def test_a_host_tool_version_we_have_no_class_for_is_kept() -> None:
    class FutureComputer:
        name = "computer"
        api_type = "computer_29990101"

        def to_params(self) -> dict[str, str]:
            return {"name": self.name, "type": self.api_type}

    on = Toggles(frozenset(FEATURES))
    assert substitution.substitute_tool_classes([FutureComputer], on) == [FutureComputer]


def test_substitute_group_keeps_an_unchanged_group_and_replaces_a_changed_one() -> None:
    group = TOOL_GROUPS_BY_VERSION["computer_use_20250124"]
    assert substitution.substitute_group(group, Toggles(frozenset())) is group
    swapped = substitution.substitute_group(group, Toggles(frozenset({"use_streaming_screenshot"})))
    assert names(swapped.tools) == ["StreamingComputerTool20250124", "EditTool20250124", "BashTool20250124"]
    assert swapped.beta_flag == group.beta_flag and group.tools[0].__name__ == "ComputerTool20250124"


def test_streaming_classes_by_kind() -> None:
    assert set(substitution.streaming_classes("computer")) == {"computer_20241022", "computer_20250124"}
    assert {"bash_20241022", "bash_20250124"} <= set(substitution.streaming_classes("bash"))
    with pytest.raises(ValueError, match="unknown tool kind"):
        substitution.streaming_classes("browser")
