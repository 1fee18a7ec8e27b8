"""Request rules of the Messages API, checked by the scripted server on every request.

Each rule is a small function ``(ctx: RequestContext) -> list[Violation]`` (see ``RULES``); the rule ids
are those of the request-rule table in docs/scenarios.md (R1-R9) where one applies, else ``params`` / ``roles``.
Messages follow the real API's wording so a failing test reads like a production 400.

Like the real API, consecutive messages of the same role are merged into one turn before the
history rules run ("Consecutive user or assistant turns in your request will be combined into a
single turn", in the Messages API documentation).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MAX_TOKENS_LIMIT = 128_000  # largest output limit of any current model (with streaming)
TOOL_ID_RE = re.compile(r"^[a-zA-Z0-9_-]+$")
TOOL_NAME_RE = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")

USER_BLOCK_TYPES = frozenset({"text", "image", "document", "search_result", "tool_result", "container_upload"})
ASSISTANT_BLOCK_TYPES = frozenset(
    {
        "text", "thinking", "redacted_thinking", "tool_use", "server_tool_use", "web_search_tool_result",
        "web_fetch_tool_result", "code_execution_tool_result", "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result", "mcp_tool_use", "mcp_tool_result", "compaction",
        "tool_search_tool_result", "container_upload",
    }
)
STREAM_ARTIFACT_TYPES = frozenset(
    {"text_delta", "input_json_delta", "thinking_delta", "signature_delta", "citations_delta", "compaction_delta"}
)
TOOL_RESULT_CONTENT_TYPES = frozenset({"text", "image", "document", "search_result", "tool_reference"})


@dataclass
class Violation:
    rule: str
    message: str
    request_index: int = -1


@dataclass
class IssuedRecord:
    """What the server sent: thinking text by signature, redacted payloads, message content by tool id."""

    thinking: dict[str, str] = field(default_factory=dict)
    redacted: set[str] = field(default_factory=set)
    by_tool_id: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def record(self, content: Sequence[Mapping[str, Any]]) -> None:
        blocks = [dict(b) for b in content]
        for b in blocks:
            if b.get("type") == "thinking" and b.get("signature"):
                self.thinking[b["signature"]] = b.get("thinking", "")
            elif b.get("type") == "redacted_thinking":
                self.redacted.add(b["data"])
            elif b.get("type") == "tool_use":
                self.by_tool_id[b["id"]] = blocks


@dataclass
class Turn:
    """One merged conversation turn: consecutive same-role messages joined."""

    role: str
    index: int  # index of its first message in the request
    blocks: list[dict[str, Any]]
    empty: bool  # every merged message had empty content


@dataclass
class RequestContext:
    body: Mapping[str, Any]
    betas: tuple[str, ...] = ()
    issued: IssuedRecord = field(default_factory=IssuedRecord)
    turns: list[Turn] = field(default_factory=list)


def _blocks_of(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        return [b if isinstance(b, dict) else {"type": repr(type(b).__name__)} for b in content]
    return []


def merge_turns(messages: Any) -> list[Turn]:
    turns: list[Turn] = []
    if not isinstance(messages, list):
        return turns
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or msg.get("role") not in ("user", "assistant"):
            continue
        blocks = _blocks_of(msg.get("content"))
        if turns and turns[-1].role == msg["role"]:
            turns[-1].blocks.extend(blocks)
            turns[-1].empty = turns[-1].empty and not blocks
        else:
            turns.append(Turn(msg["role"], i, list(blocks), not blocks))
    return turns


def make_context(body: Mapping[str, Any], betas: Sequence[str] = (), issued: IssuedRecord | None = None) -> RequestContext:
    return RequestContext(body, tuple(betas), issued or IssuedRecord(), merge_turns(body.get("messages")))


def parse_betas(header: str | None) -> tuple[str, ...]:
    return tuple(b.strip() for b in (header or "").split(",") if b.strip())


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def check_params(ctx: RequestContext) -> list[Violation]:
    body, out = ctx.body, []

    def bad(msg: str) -> None:
        out.append(Violation("params", msg))

    if not isinstance(body.get("model"), str) or not body.get("model"):
        bad("model: Field required")
    mt = body.get("max_tokens")
    if mt is None:
        bad("max_tokens: Field required")
    elif not _is_int(mt) or mt < 1:
        bad(f"max_tokens: Input should be a positive integer, got {mt!r}")
    elif mt > MAX_TOKENS_LIMIT:
        bad(f"max_tokens: {mt} > {MAX_TOKENS_LIMIT}, which is the maximum allowed number of output tokens")
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        bad("messages: at least one message is required")
    for name, lo, hi in (("temperature", 0.0, 1.0), ("top_p", 0.0, 1.0)):
        if name in body and (not _is_num(body[name]) or not lo <= body[name] <= hi):
            bad(f"{name}: Input should be a number between {lo} and {hi}, got {body[name]!r}")
    if "top_k" in body and (not _is_int(body["top_k"]) or body["top_k"] < 0):
        bad(f"top_k: Input should be a non-negative integer, got {body['top_k']!r}")
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or not all(isinstance(s, str) and s.strip() for s in stops)):
        bad("stop_sequences: each stop sequence must be a string with non-whitespace text")
    system = body.get("system")
    if system is not None and not isinstance(system, str):
        if not isinstance(system, list) or any(not isinstance(b, dict) or b.get("type") != "text" for b in system):
            bad("system: Input should be a string or a list of text blocks")
        elif any(not str(b.get("text", "")).strip() for b in system):
            bad("system: text content blocks must be non-empty")
    if "stream" in body and not isinstance(body["stream"], bool):
        bad("stream: Input should be a valid boolean")
    tools = body.get("tools")
    if tools is not None:
        names = [t.get("name") for t in tools if isinstance(t, dict)] if isinstance(tools, list) else []
        if not isinstance(tools, list) or len(names) != len(tools):
            bad("tools: Input should be a list of tool definitions")
        for i, tool_name in enumerate(names):
            if not isinstance(tool_name, str) or not TOOL_NAME_RE.match(tool_name):
                bad(f"tools.{i}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'")
        if len(set(map(str, names))) != len(names):
            bad("tools: Tool names must be unique.")
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "tool" and choice.get("name") not in names:
            bad(f"tool_choice: tool {choice.get('name')!r} is not in tools")
    return out


def check_roles(ctx: RequestContext) -> list[Violation]:
    msgs = ctx.body.get("messages")
    if not isinstance(msgs, list):
        return []
    out: list[Violation] = []
    for i, msg in enumerate(msgs):
        if not isinstance(msg, dict):
            out.append(Violation("roles", f"messages.{i}: Input should be an object"))
        elif msg.get("role") not in ("user", "assistant"):
            out.append(Violation("roles", f"messages.{i}.role: Input should be 'user' or 'assistant'"))
        elif not isinstance(msg.get("content"), str | list):
            out.append(Violation("roles", f"messages.{i}.content: Input should be a string or a list of blocks"))
    if ctx.turns and ctx.turns[0].role != "user":
        out.append(Violation("roles", 'messages: first message must use the "user" role'))
    return out


def _is_artifact(block: Mapping[str, Any]) -> str | None:
    if block.get("type") in STREAM_ARTIFACT_TYPES:
        return f"Input tag '{block.get('type')}' does not match any of the expected tags"
    if "partial_json" in block:
        return "partial_json: Extra inputs are not permitted (a streaming delta was replayed)"
    if block.get("type") == "tool_use" and not isinstance(block.get("input"), dict):
        return "tool_use.input: Input should be a valid dictionary (unparsed tool input was replayed)"
    return None


def check_content(ctx: RequestContext) -> list[Violation]:
    """R1: no streaming artifacts, no empty text, only block types valid for the role."""
    out: list[Violation] = []
    last = len(ctx.turns) - 1
    for t_no, turn in enumerate(ctx.turns):
        where = f"messages.{turn.index}"
        if turn.empty and not (t_no == last and turn.role == "assistant"):
            out.append(Violation("R1", f"{where}: all messages must have non-empty content except for the optional final assistant message"))
        allowed = USER_BLOCK_TYPES if turn.role == "user" else ASSISTANT_BLOCK_TYPES
        for j, block in enumerate(turn.blocks):
            artifact = _is_artifact(block)
            if artifact:
                out.append(Violation("R1", f"{where}.content.{j}: {artifact}"))
            elif block.get("type") not in allowed:
                out.append(Violation("R1", f"{where}.content.{j}: block type {block.get('type')!r} is not allowed in a {turn.role} message"))
            elif block["type"] == "text" and (not isinstance(block.get("text"), str) or not block["text"].strip()):
                out.append(Violation("R1", f"{where}.content.{j}: text content blocks must contain non-whitespace text"))
    return out


def check_tool_ids(ctx: RequestContext) -> list[Violation]:
    """R3 (ids): every tool_use id matches the API pattern and is unique in the whole request."""
    out: list[Violation] = []
    seen: set[str] = set()
    for turn in ctx.turns:
        for j, block in enumerate(turn.blocks):
            if block.get("type") != "tool_use":
                continue
            tid = block.get("id")
            if not isinstance(tid, str) or not TOOL_ID_RE.match(tid):
                out.append(Violation("R3", f"messages.{turn.index}.content.{j}.id: String should match pattern '^[a-zA-Z0-9_-]+$'"))
            elif tid in seen:
                out.append(Violation("R3", f"messages.{turn.index}: `tool_use` ids must be unique: {tid}"))
            else:
                seen.add(tid)
    return out


def check_tool_pairing(ctx: RequestContext) -> list[Violation]:
    """R2/R3: results for every tool_use in the very next user turn, first in it, once each, none unknown."""
    out: list[Violation] = []
    for k, turn in enumerate(ctx.turns):
        if turn.role != "user":
            continue
        prev = ctx.turns[k - 1] if k > 0 else None
        expected = [b.get("id") for b in prev.blocks if b.get("type") == "tool_use"] if prev else []
        results = [b for b in turn.blocks if b.get("type") == "tool_result"]
        ids = [b.get("tool_use_id") for b in results]
        missing = [i for i in expected if i not in ids]
        if missing:
            out.append(Violation("R2", f"messages.{turn.index}: `tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(map(str, missing))}. Each `tool_use` block must have a corresponding `tool_result` block in the next message."))
        unknown = [i for i in ids if i not in expected]
        if unknown:
            out.append(Violation("R2", f"messages.{turn.index}: unexpected `tool_use_id` found in `tool_result` blocks: {', '.join(map(str, unknown))}. Each `tool_result` block must have a corresponding `tool_use` block in the previous message."))
        dups = sorted({str(i) for i in ids if ids.count(i) > 1})
        if dups:
            out.append(Violation("R3", f"messages.{turn.index}: each `tool_use` id must have exactly one `tool_result`; duplicated: {', '.join(dups)}"))
        leading = 0
        while leading < len(turn.blocks) and turn.blocks[leading].get("type") == "tool_result":
            leading += 1
        if results and leading != len(results):
            out.append(Violation("R3", f"messages.{turn.index}: `tool_result` blocks must come FIRST in the content array; any text must come after all tool results"))
        elif expected and leading < len(expected) and not missing:
            out.append(Violation("R3", f"messages.{turn.index}: Did not find {len(expected)} tool_result block(s) at the beginning of this message. Messages following tool_use blocks must begin with a matching number of tool_result blocks"))
    if ctx.turns and ctx.turns[-1].role == "assistant":
        dangling = [b.get("id") for b in ctx.turns[-1].blocks if b.get("type") == "tool_use"]
        if dangling:
            out.append(Violation("R2", f"messages.{ctx.turns[-1].index}: `tool_use` ids were found without `tool_result` blocks immediately after: {', '.join(map(str, dangling))}"))
    return out


def check_tool_results(ctx: RequestContext) -> list[Violation]:
    """R4: tool_result blocks well formed (id, is_error boolean, valid non-empty content blocks)."""
    out: list[Violation] = []
    for turn in ctx.turns:
        for j, block in enumerate(turn.blocks):
            if block.get("type") != "tool_result":
                continue
            where = f"messages.{turn.index}.content.{j}"
            if not isinstance(block.get("tool_use_id"), str):
                out.append(Violation("R4", f"{where}.tool_use_id: Field required"))
            if "is_error" in block and not isinstance(block["is_error"], bool):
                out.append(Violation("R4", f"{where}.is_error: Input should be a valid boolean"))
            content = block.get("content", "")
            if isinstance(content, str):
                continue
            if not isinstance(content, list):
                out.append(Violation("R4", f"{where}.content: Input should be a string or a list of blocks"))
                continue
            for n, part in enumerate(content):
                ptype = part.get("type") if isinstance(part, dict) else None
                if ptype not in TOOL_RESULT_CONTENT_TYPES:
                    out.append(Violation("R4", f"{where}.content.{n}: block type {ptype!r} is not allowed in tool_result content"))
                elif ptype == "text" and (not isinstance(part.get("text"), str) or not part["text"].strip()):
                    out.append(Violation("R4", f"{where}.content.{n}: text content blocks must contain non-whitespace text"))
    return out


INTERLEAVED_BETA = "interleaved-thinking-2025-05-14"
THINKING_TYPES = ("thinking", "redacted_thinking")


def thinking_on(body: Mapping[str, Any]) -> bool:
    cfg = body.get("thinking")
    return isinstance(cfg, dict) and cfg.get("type") in ("enabled", "adaptive")


def check_thinking_params(ctx: RequestContext) -> list[Violation]:
    """R9: budget >= 1024 and < max_tokens (unless interleaved thinking), no forced tool_choice,
    no temperature/top_k changes, top_p in [0.95, 1], no assistant prefill while thinking."""
    body, out = ctx.body, list[Violation]()
    cfg = body.get("thinking")
    if cfg is None:
        return out
    if not isinstance(cfg, dict) or cfg.get("type") not in ("enabled", "disabled", "adaptive"):
        return [Violation("R9", "thinking: Input tag does not match any of the expected tags: 'enabled', 'disabled', 'adaptive'")]
    if cfg["type"] == "enabled":
        budget = cfg.get("budget_tokens")
        mt = body.get("max_tokens")
        if not isinstance(budget, int) or isinstance(budget, bool):
            out.append(Violation("R9", "thinking.enabled.budget_tokens: Field required"))
        elif budget < 1024:
            out.append(Violation("R9", "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024"))
        elif isinstance(mt, int) and not isinstance(mt, bool) and budget >= mt and INTERLEAVED_BETA not in ctx.betas:
            out.append(Violation("R9", f"`max_tokens` must be greater than `thinking.budget_tokens` ({mt} <= {budget}); only interleaved thinking ({INTERLEAVED_BETA}) allows a larger budget"))
    if not thinking_on(body):
        return out
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") not in (None, "auto", "none"):
        out.append(Violation("R9", f"Thinking may not be enabled when tool_choice forces tool use (tool_choice.type={choice.get('type')!r})"))
    if "temperature" in body and body["temperature"] != 1:
        out.append(Violation("R9", "`temperature` may only be set to 1 when thinking is enabled"))
    if "top_k" in body:
        out.append(Violation("R9", "`top_k` cannot be set when thinking is enabled"))
    if "top_p" in body and _is_num(body["top_p"]) and not 0.95 <= body["top_p"] <= 1:
        out.append(Violation("R9", "`top_p` must be between 0.95 and 1 when thinking is enabled"))
    if ctx.turns and ctx.turns[-1].role == "assistant":
        out.append(Violation("R9", "Prefilling the assistant response is not supported when thinking is enabled"))
    return out


def _thinking_key(block: Mapping[str, Any]) -> tuple[str, str]:
    """Identity of a thinking block (edits to its text are R5's concern, not R6's)."""
    if block.get("type") == "redacted_thinking":
        return ("redacted_thinking", str(block.get("data")))
    return ("thinking", str(block.get("signature")))


def check_thinking_replay(ctx: RequestContext) -> list[Violation]:
    """R5: every replayed thinking / redacted_thinking block is one the server issued, unchanged.
    R6: with thinking on, each assistant message of the current tool-use loop that the server issued with
    thinking still carries that whole thinking sequence, unchanged, in order, at its start."""
    out: list[Violation] = []
    issued = ctx.issued
    for turn in ctx.turns:
        if turn.role != "assistant":
            continue
        for j, b in enumerate(turn.blocks):
            where = f"messages.{turn.index}.content.{j}"
            if b.get("type") == "thinking":
                sig = b.get("signature")
                if not isinstance(sig, str) or not sig:
                    out.append(Violation("R5", f"{where}.thinking.signature: Field required"))
                elif sig not in issued.thinking:
                    out.append(Violation("R5", f"{where}: Invalid `signature` in `thinking` block"))
                elif issued.thinking[sig] != b.get("thinking"):
                    out.append(Violation("R5", f"{where}: `thinking` block was modified; thinking blocks must be passed back unmodified"))
            elif b.get("type") == "redacted_thinking" and b.get("data") not in issued.redacted:
                out.append(Violation("R5", f"{where}: Invalid `data` in `redacted_thinking` block"))
    if not thinking_on(ctx.body):
        return out
    # The current turn: everything after the last user message that carries no tool_result.
    start = 0
    for k, turn in enumerate(ctx.turns):
        if turn.role == "user" and not any(b.get("type") == "tool_result" for b in turn.blocks):
            start = k + 1
    for turn in ctx.turns[start:]:
        if turn.role != "assistant":
            continue
        origin = next((issued.by_tool_id[b["id"]] for b in turn.blocks if b.get("type") == "tool_use" and b.get("id") in issued.by_tool_id), None)
        if origin is None:
            continue
        want = [_thinking_key(b) for b in origin if b.get("type") in THINKING_TYPES]
        if not want:
            continue
        got = [_thinking_key(b) for b in turn.blocks if b.get("type") in THINKING_TYPES]
        first = turn.blocks[0].get("type") if turn.blocks else None
        if first not in THINKING_TYPES:
            out.append(Violation("R6", f"messages.{turn.index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found `{first}`. When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks)."))
        elif got[: len(want)] != want:
            out.append(Violation("R6", f"messages.{turn.index}: the thinking blocks of this assistant message were dropped, reordered or changed; the entire sequence of consecutive thinking blocks must match the outputs generated by the model"))
    return out


Rule = Callable[[RequestContext], list[Violation]]
RULES: tuple[Rule, ...] = (
    check_params,
    check_roles,
    check_content,
    check_tool_ids,
    check_tool_pairing,
    check_tool_results,
    check_thinking_params,
    check_thinking_replay,
)


def validate_request(
    body: Any, betas: Sequence[str] = (), issued: IssuedRecord | None = None
) -> list[Violation]:
    """All violations of ``body`` (a parsed request JSON), in rule order."""
    if not isinstance(body, dict):
        return [Violation("params", "request body must be a JSON object")]
    ctx = make_context(body, betas, issued)
    out: list[Violation] = []
    for rule in RULES:
        out.extend(rule(ctx))
    return out
