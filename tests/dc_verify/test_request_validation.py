"""Request rules of the scripted server: each rule with good and bad requests, as functions and over HTTP."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import anthropic
import pytest

from dc_verify.fake_api.validation import RULES, IssuedRecord, merge_turns, validate_request
from dc_verify.scripted_server import ScriptedServer

MODEL = "claude-sonnet-4-6"
INTERLEAVED = "interleaved-thinking-2025-05-14"
SIG_A = "EqQBCgIYAhIMSigA+Opaque/Base64=="
SIG_B = "EqQBCgIYAhIMSigB+Opaque/Base64=="
THINK_A = {"type": "thinking", "thinking": "Plan: run ls.", "signature": SIG_A}
REDACTED = {"type": "redacted_thinking", "data": "EmwKAhgBEgyRedactedPayload=="}
THINK_B = {"type": "thinking", "thinking": "Then read the file.", "signature": SIG_B}
TOOL_1 = {"type": "tool_use", "id": "toolu_01A", "name": "bash", "input": {"command": "ls"}}
TOOL_2 = {"type": "tool_use", "id": "toolu_01B", "name": "bash", "input": {"command": "cat x"}}
ISSUED_1 = [THINK_A, REDACTED, {"type": "text", "text": "Listing."}, TOOL_1]
ISSUED_2 = [THINK_B, TOOL_2]


def result(tool_id: str, content: Any = "ok", **extra: Any) -> dict[str, Any]:
    return {"type": "tool_result", "tool_use_id": tool_id, "content": content, **extra}


def issued() -> IssuedRecord:
    rec = IssuedRecord()
    rec.record(ISSUED_1)
    rec.record(ISSUED_2)
    return rec


def good_body() -> dict[str, Any]:
    """A valid two-step tool loop with interleaved thinking, replayed exactly as issued."""
    return {
        "model": MODEL,
        "max_tokens": 8000,
        "thinking": {"type": "enabled", "budget_tokens": 4000},
        "tools": [{"name": "bash", "type": "bash_20250124"}],
        "system": "You are helpful.",
        "messages": [
            {"role": "user", "content": "list the files and show x"},
            {"role": "assistant", "content": copy.deepcopy(ISSUED_1)},
            {"role": "user", "content": [result("toolu_01A", "x\ny")]},
            {"role": "assistant", "content": copy.deepcopy(ISSUED_2)},
            {"role": "user", "content": [result("toolu_01B", [{"type": "text", "text": "hello"}]),
                                         {"type": "text", "text": "and be brief"}]},
        ],
    }


Mutation = Callable[[dict[str, Any]], None]


def msgs(body: dict[str, Any]) -> list[dict[str, Any]]:
    return body["messages"]


def _set(key: str, value: Any) -> Mutation:
    return lambda b: b.__setitem__(key, value)


def _del(key: str) -> Mutation:
    return lambda b: b.pop(key)


def _content(i: int, content: Any) -> Mutation:
    return lambda b: msgs(b)[i].__setitem__("content", content)


def _no_thinking(b: dict[str, Any]) -> None:
    b.pop("thinking")


BAD: list[tuple[str, Mutation, str, str]] = [
    # params
    ("no model", _del("model"), "params", "model: Field required"),
    ("no max_tokens", _del("max_tokens"), "params", "max_tokens: Field required"),
    ("max_tokens zero", _set("max_tokens", 0), "params", "positive integer"),
    ("max_tokens over limit", _set("max_tokens", 1_000_000), "params", "maximum allowed number of output tokens"),
    ("temperature out of range", lambda b: (_no_thinking(b), b.update(temperature=1.5)), "params", "temperature"),
    ("duplicate tool names", _set("tools", [{"name": "bash"}, {"name": "bash"}]), "params", "Tool names must be unique"),
    ("empty system block", _set("system", [{"type": "text", "text": ""}]), "params", "system: text content blocks"),
    ("no messages", _set("messages", []), "params", "at least one message"),
    # roles
    ("first message assistant", lambda b: msgs(b).insert(0, {"role": "assistant", "content": "Hi."}), "roles", 'first message must use the "user" role'),
    ("system role in messages", lambda b: msgs(b).append({"role": "system", "content": "x"}), "roles", "messages.5.role"),
    # R1: artifacts and empty text
    ("empty text block", lambda b: msgs(b)[4]["content"].append({"type": "text", "text": ""}), "R1", "non-whitespace text"),
    ("whitespace text block", lambda b: msgs(b)[4]["content"].append({"type": "text", "text": " \n"}), "R1", "non-whitespace text"),
    ("empty user content", _content(0, ""), "R1", "all messages must have non-empty content"),
    ("input_json_delta replayed", lambda b: msgs(b)[3]["content"].append({"type": "input_json_delta", "partial_json": "{"}), "R1", "Input tag 'input_json_delta'"),
    ("tool input left as a string", lambda b: msgs(b)[3]["content"][1].__setitem__("input", '{"command": "cat x"}'), "R1", "unparsed tool input"),
    ("tool_result in assistant", lambda b: msgs(b)[3]["content"].append(result("toolu_01B")), "R1", "not allowed in a assistant message"),
    # R3: ids and order
    ("duplicate tool_use id", lambda b: msgs(b)[3]["content"][1].__setitem__("id", "toolu_01A"), "R3", "`tool_use` ids must be unique"),
    ("tool_use id pattern", lambda b: msgs(b)[1]["content"][3].__setitem__("id", "toolu 01A"), "R3", "String should match pattern"),
    ("text before tool_result", _content(4, [{"type": "text", "text": "first"}, result("toolu_01B")]), "R3", "must come FIRST"),
    ("duplicate tool_result", _content(4, [result("toolu_01B"), result("toolu_01B")]), "R3", "exactly one `tool_result`"),
    # R2: pairing
    ("missing tool_result", _content(4, [{"type": "text", "text": "no results"}]), "R2", "ids were found without `tool_result` blocks immediately after: toolu_01B"),
    ("unknown tool_result id", _content(4, [result("toolu_01B"), result("toolu_01Z")]), "R2", "unexpected `tool_use_id` found in `tool_result` blocks: toolu_01Z"),
    ("results one exchange too late", lambda b: msgs(b).__setitem__(slice(4, 4), [
        {"role": "user", "content": "hm?"}, {"role": "assistant", "content": "wait"}]), "R2", "without `tool_result` blocks immediately after: toolu_01B"),
    ("dangling tool_use at the end", lambda b: (_no_thinking(b), msgs(b).append({"role": "assistant", "content": [TOOL_2 | {"id": "toolu_01C"}]})), "R2", "toolu_01C"),
    # R4: tool_result shape
    ("tool_use inside tool_result", _content(4, [result("toolu_01B", [dict(TOOL_2)])]), "R4", "not allowed in tool_result content"),
    ("is_error not boolean", _content(4, [result("toolu_01B", "x", is_error="yes")]), "R4", "is_error"),
    ("empty text in tool_result", _content(4, [result("toolu_01B", [{"type": "text", "text": ""}])]), "R4", "non-whitespace text"),
    # R9: thinking parameters
    ("budget below 1024", _set("thinking", {"type": "enabled", "budget_tokens": 512}), "R9", "greater than or equal to 1024"),
    ("budget not below max_tokens", _set("thinking", {"type": "enabled", "budget_tokens": 8000}), "R9", "must be greater than `thinking.budget_tokens`"),
    ("forced tool_choice with thinking", _set("tool_choice", {"type": "any"}), "R9", "tool_choice"),
    ("temperature with thinking", _set("temperature", 0.2), "R9", "`temperature` may only be set to 1"),
    ("top_k with thinking", _set("top_k", 5), "R9", "`top_k`"),
    ("prefill with thinking", lambda b: msgs(b).append({"role": "assistant", "content": "Sure"}), "R9", "Prefilling"),
    ("unknown thinking type", _set("thinking", {"type": "sometimes"}), "R9", "expected tags"),
    # R5: thinking unchanged
    ("thinking text edited", lambda b: msgs(b)[3]["content"][0].__setitem__("thinking", "Something else."), "R5", "was modified"),
    ("thinking signature unknown", lambda b: msgs(b)[3]["content"][0].__setitem__("signature", "EqForged=="), "R5", "Invalid `signature`"),
    ("thinking signature missing", lambda b: msgs(b)[3]["content"][0].pop("signature"), "R5", "signature: Field required"),
    ("redacted data changed", lambda b: msgs(b)[1]["content"][1].__setitem__("data", "EmwOther=="), "R5", "Invalid `data`"),
    # R6: thinking kept, in order, first
    ("thinking dropped from the current tool loop", lambda b: msgs(b)[3]["content"].pop(0), "R6", "must start with a thinking block"),
    ("redacted dropped", lambda b: msgs(b)[1]["content"].pop(1), "R6", "dropped, reordered or changed"),
    ("thinking reordered", lambda b: msgs(b)[1]["content"].__setitem__(slice(0, 2), [REDACTED, THINK_A]), "R6", "dropped, reordered or changed"),
]

GOOD: list[tuple[str, Mutation, tuple[str, ...]]] = [
    ("as issued", lambda b: None, ()),
    ("consecutive user messages are merged", lambda b: msgs(b).append({"role": "user", "content": "one more thing"}), ()),
    ("results and text in two user messages", lambda b: msgs(b).__setitem__(slice(4, 5), [
        {"role": "user", "content": [result("toolu_01B")]}, {"role": "user", "content": "and be brief"}]), ()),
    ("empty final assistant prefill without thinking", lambda b: (_no_thinking(b), msgs(b).append({"role": "assistant", "content": ""})), ()),
    ("budget above max_tokens with interleaved thinking", _set("thinking", {"type": "enabled", "budget_tokens": 20000}), (INTERLEAVED,)),
    ("adaptive thinking", _set("thinking", {"type": "adaptive"}), ()),
    ("thinking off: dropped thinking is not required", lambda b: (_no_thinking(b), msgs(b)[3]["content"].pop(0)), ()),
    ("earlier completed turn's thinking may be omitted", lambda b: (
        msgs(b).__setitem__(4, {"role": "user", "content": [result("toolu_01B")]}),
        msgs(b).extend([{"role": "assistant", "content": "Done."}, {"role": "user", "content": "next task"}]),
        msgs(b)[1]["content"].__delitem__(slice(0, 2)),
    ), ()),
    ("top_p 0.95 with thinking", _set("top_p", 0.95), ()),
    ("string content and no tools", lambda b: (_no_thinking(b), b.pop("tools"), b.__setitem__("messages", [{"role": "user", "content": "hi"}])), ()),
]


def mutated(mutation: Mutation) -> dict[str, Any]:
    body = good_body()
    mutation(body)
    return body


@pytest.mark.parametrize(("name", "mutation", "rule", "needle"), BAD, ids=[c[0] for c in BAD])
def test_bad_request_is_flagged(name: str, mutation: Mutation, rule: str, needle: str) -> None:
    found = validate_request(mutated(mutation), (), issued())
    assert found, name
    assert any(v.rule == rule and needle in v.message for v in found), [(v.rule, v.message) for v in found]


@pytest.mark.parametrize(("name", "mutation", "betas"), GOOD, ids=[c[0] for c in GOOD])
def test_good_request_has_no_violation(name: str, mutation: Mutation, betas: tuple[str, ...]) -> None:
    assert validate_request(mutated(mutation), betas, issued()) == []


def test_every_rule_is_exercised_by_a_bad_case() -> None:
    rules_hit = {rule for _n, _m, rule, _x in BAD}
    assert rules_hit == {"params", "roles", "R1", "R2", "R3", "R4", "R5", "R6", "R9"}
    assert len(RULES) == 8


def test_unknown_signature_without_a_server_record_is_flagged() -> None:
    found = validate_request(good_body(), (), IssuedRecord())
    assert {v.rule for v in found} == {"R5"}


def test_merge_turns_joins_same_role_and_keeps_first_index() -> None:
    turns = merge_turns([{"role": "user", "content": "a"}, {"role": "user", "content": [{"type": "text", "text": "b"}]},
                         {"role": "assistant", "content": []}])
    assert [(t.role, t.index, len(t.blocks), t.empty) for t in turns] == [("user", 0, 2, False), ("assistant", 2, 0, True)]


@pytest.fixture(scope="module")
def server() -> Any:
    with ScriptedServer("text_only", validate=True) as srv:
        srv.issued.record(ISSUED_1)
        srv.issued.record(ISSUED_2)
        yield srv


@pytest.mark.parametrize(("name", "mutation", "rule", "needle"), BAD, ids=[c[0] for c in BAD])
def test_bad_request_over_http_is_400_with_real_shape(
    server: ScriptedServer, name: str, mutation: Mutation, rule: str, needle: str
) -> None:
    client = anthropic.Anthropic(base_url=server.base_url, api_key="test", max_retries=0)
    before, served = len(server.violations), server.turns_served
    with pytest.raises(anthropic.BadRequestError) as err:
        client.post("/v1/messages", cast_to=object, body=mutated(mutation))
    body = err.value.body
    assert set(body) == {"type", "error", "request_id"} and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    new = server.violations[before:]
    assert new and new[0].message == body["error"]["message"]
    assert any(v.rule == rule and needle in v.message for v in new)
    assert {v.request_index for v in new} == {len(server.requests) - 1}
    assert server.requests[-1].outcome == "invalid" and server.turns_served == served


def test_good_request_over_http_records_no_violation() -> None:
    with ScriptedServer("text_only", strict=True) as srv:
        srv.issued.record(ISSUED_1)
        srv.issued.record(ISSUED_2)
        client = anthropic.Anthropic(base_url=srv.base_url, api_key="test", max_retries=0)
        reply = client.post(
            "/v1/messages", cast_to=object, body=mutated(GOOD[5][1]), options={"headers": {"anthropic-beta": INTERLEAVED}}
        )
        assert reply["content"][0]["text"].startswith("Hello there!")
        assert srv.violations == [] and srv.requests[0].betas == (INTERLEAVED,)
