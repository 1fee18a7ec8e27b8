"""Scenarios for the scripted Messages API server: load, schema-check, resolve injection points.

A scenario is a JSON document (see ``docs/scenarios.md`` and ``scenarios/scenario.schema.json``).
``load_scenario`` accepts a shipped scenario name, a path, or an already parsed dict, and raises
``ValueError`` naming the file, the JSON location and the problem when anything is wrong.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema

from .sse import PlannedEvent, block_stream_text, plan_message, resolve_point

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SCHEMA_PATH = SCENARIO_DIR / "scenario.schema.json"

FAILURE_KINDS = frozenset({"error", "drop", "status", "malformed"})
STATUS_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    504: "timeout_error",
    529: "overloaded_error",
}
ERROR_STATUS = {v: k for k, v in STATUS_ERROR_TYPES.items()}
ERROR_MESSAGES = {
    "overloaded_error": "Overloaded",
    "rate_limit_error": "Number of request tokens has exceeded your per-minute rate limit",
    "api_error": "Internal server error",
    "timeout_error": "Request timed out",
}


@dataclass(frozen=True)
class Injection:
    """A fault or extra event injected into a turn. ``times`` None means every attempt."""

    kind: str
    at: str | None
    times: int | None
    spec: Mapping[str, Any]

    @property
    def is_failure(self) -> bool:
        """A failure (error, drop, status, terminal malformed) leaves the turn to be served again."""
        if self.kind == "malformed":
            return not self.spec.get("continue", False)
        return self.kind in FAILURE_KINDS

    def fires_on(self, attempt: int) -> bool:
        """``attempt`` counts from 1 for each turn."""
        return self.times is None or attempt <= self.times

    @property
    def error_type(self) -> str:
        if "error_type" in self.spec:
            return str(self.spec["error_type"])
        if self.kind == "status":
            return STATUS_ERROR_TYPES.get(int(self.spec["status"]), "api_error")
        return "overloaded_error"

    @property
    def error_message(self) -> str:
        return str(self.spec.get("message") or ERROR_MESSAGES.get(self.error_type, self.error_type.replace("_", " ")))


@dataclass(frozen=True)
class Turn:
    index: int
    blocks: list[dict[str, Any]]
    stop_reason: str
    expect: Mapping[str, Any] = field(default_factory=dict)
    status: int = 200
    error_type: str | None = None
    error_message: str | None = None
    model: str | None = None
    stop_details: Mapping[str, Any] | None = None
    usage: Mapping[str, Any] = field(default_factory=dict)
    event_delay_s: float = 0.0
    ping_every: int = 0
    inject: tuple[Injection, ...] = ()

    def plan(self, message_id: str = "msg_plan", model: str = "model") -> list[PlannedEvent]:
        """The events this turn streams (``len(plan) + 1`` slots for ``after_event:N``)."""
        return plan_message(
            self.blocks, message_id=message_id, model=model, stop_reason=self.stop_reason, input_tokens=1,
            output_tokens=self.output_tokens(), usage_extra=self.usage_extra(), stop_details=self.stop_details,
        )

    def output_tokens(self) -> int:
        if "output_tokens" in self.usage:
            return int(self.usage["output_tokens"])
        chars = sum(len(json.dumps(b)) for b in self.blocks)
        return max(1, chars // 4)

    def usage_extra(self) -> dict[str, Any]:
        """Usage keys besides the token counts (cache counters, ``service_tier``) for ``message_start``."""
        return {k: v for k, v in self.usage.items() if k not in ("input_tokens", "output_tokens")}


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    turns: tuple[Turn, ...]
    model: str | None = None
    source: str = "<dict>"
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False)
    variables: Mapping[str, str] = field(default_factory=dict)


_VAR_RE = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def _expand(value: Any, variables: Mapping[str, str], where: str) -> Any:
    """Replace ``${NAME}`` in every string of ``value``; an unknown name is a ValueError."""
    if isinstance(value, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in variables:
                raise ValueError(f"{where}: unknown variable ${{{m.group(1)}}}; known: {', '.join(sorted(variables))}")
            return variables[m.group(1)]

        return _VAR_RE.sub(sub, value)
    if isinstance(value, list):
        return [_expand(v, variables, where) for v in value]
    if isinstance(value, dict):
        return {k: _expand(v, variables, where) for k, v in value.items()}
    return value


def resolve_variables(doc: Mapping[str, Any], overrides: Mapping[str, str] | None, source: str) -> dict[str, str]:
    builtin = {"TMPDIR": tempfile.gettempdir()}
    declared = doc.get("variables") or {}
    resolved = dict(builtin)
    for name, default in declared.items():
        resolved[name] = _expand(default, builtin, f"{source}: $.variables.{name}")
    resolved.update(overrides or {})
    return resolved


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def _where(path: Any) -> str:
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _schema_problem(doc: Any, source: str) -> str | None:
    # The verification child runs in the agent's interpreter, which need not have jsonschema: there
    # the (shipped, tested) scenarios get the structural checks below only.
    try:
        import jsonschema
    except ImportError:
        return None
    errors = list(_validator().iter_errors(doc))
    if not errors:
        return None
    best = jsonschema.exceptions.best_match(errors)
    # For a block, explain against the branch its "type" selects rather than "not valid under any".
    if best.validator == "oneOf" and isinstance(best.instance, dict):
        wanted = best.instance.get("type")
        for sub in best.context or ():
            branch_type = best.validator_value[sub.relative_schema_path[0]].get("properties", {}).get("type", {})
            if branch_type.get("const") == wanted and sub.validator != "const":
                best = sub
                break
        else:
            if wanted not in ("text", "thinking", "redacted_thinking", "tool_use"):
                return f"{source}: {_where(best.absolute_path)}: unknown block type {wanted!r}"
    return f"{source}: {_where(best.absolute_path)}: {best.message}"


def _build_turn(index: int, raw: Mapping[str, Any], defaults: Mapping[str, Any], source: str) -> Turn:
    blocks = [dict(b) for b in raw.get("blocks", [])]
    where = f"{source}: $.turns[{index}]"
    for i, b in enumerate(blocks[:-1]):
        if b.get("truncated"):
            raise ValueError(f"{where}.blocks[{i}]: only the last block can be truncated")
    for i, b in enumerate(blocks):
        if "chunks" in b and "".join(b["chunks"]) != block_stream_text(b):
            raise ValueError(f"{where}.blocks[{i}]: chunks do not join to the block's text: {''.join(b['chunks'])!r}")
    ids = [b["id"] for b in blocks if b["type"] == "tool_use"]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{where}: tool_use ids must be unique within a message: {ids}")
    stop_reason = raw.get("stop_reason") or ("tool_use" if ids else "end_turn")
    injections = tuple(
        Injection(
            kind=inj["kind"],
            at=inj.get("at"),
            times=inj.get("times", None if inj["kind"] == "ping" else 1),
            spec=dict(inj),
        )
        for inj in raw.get("inject", [])
    )
    turn = Turn(
        index=index,
        blocks=blocks,
        stop_reason=stop_reason,
        expect=dict(raw.get("expect", {})),
        status=int(raw.get("status", 200)),
        error_type=raw.get("error_type"),
        error_message=raw.get("error_message"),
        model=raw.get("model", defaults.get("model")),
        stop_details=raw.get("stop_details"),
        usage=dict(raw.get("usage", {})),
        event_delay_s=float(raw.get("event_delay_s", defaults.get("event_delay_s", 0.0))),
        ping_every=int(raw.get("ping_every", defaults.get("ping_every", 0))),
        inject=injections,
    )
    # Every injection point must exist in this turn's message (checked on a plan with stand-in ids).
    plan = turn.plan()
    for j, inj in enumerate(injections):
        if inj.at is None:
            continue
        try:
            resolve_point(plan, inj.at)
        except ValueError as exc:
            raise ValueError(f"{where}.inject[{j}]: {exc}") from None
    return turn


def scenario_from_dict(doc: Any, source: str = "<dict>", variables: Mapping[str, str] | None = None) -> Scenario:
    problem = _schema_problem(doc, source)
    if problem:
        raise ValueError(f"invalid scenario {problem}")
    defaults = doc.get("defaults", {})
    values = resolve_variables(doc, variables, source)
    raw_turns = _expand(doc["turns"], values, f"invalid scenario {source}: $.turns")
    turns = tuple(_build_turn(i, t, defaults, source) for i, t in enumerate(raw_turns))
    return Scenario(
        name=doc["name"],
        description=doc.get("description", ""),
        turns=turns,
        model=defaults.get("model"),
        source=source,
        raw=doc,
        variables=values,
    )


def scenario_names() -> list[str]:
    """Names of the scenarios shipped in ``dc_verify/fake_api/scenarios/``."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.json") if p.name != SCHEMA_PATH.name)


def load_scenario(
    spec: str | Path | Mapping[str, Any] | Scenario, variables: Mapping[str, str] | None = None
) -> Scenario:
    """A shipped scenario by name (``"bash_tool"``), a JSON file path, a parsed dict, or a Scenario.

    ``variables`` override the scenario's ``${NAME}`` variable defaults (e.g. ``{"WORKDIR": str(tmp)}``).
    """
    if isinstance(spec, Scenario):
        if variables:
            return scenario_from_dict(dict(spec.raw), spec.source, {**spec.variables, **variables})
        return spec
    if isinstance(spec, Mapping):
        return scenario_from_dict(dict(spec), variables=variables)
    path = Path(spec)
    if isinstance(spec, str) and not spec.endswith(".json") and "/" not in spec and "\\" not in spec:
        path = SCENARIO_DIR / f"{spec}.json"
        if not path.is_file():
            raise ValueError(f"unknown scenario {spec!r}; shipped scenarios: {', '.join(scenario_names())}")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read scenario {path}: {exc.strerror or exc}") from exc
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid scenario {path}: not JSON: {exc}") from exc
    return scenario_from_dict(doc, source=str(path), variables=variables)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(_text_of(b.get("text", b.get("content", ""))) for b in content if isinstance(b, dict))
    return ""


def check_expect(expect: Mapping[str, Any], body: Mapping[str, Any], betas: tuple[str, ...] = ()) -> list[str]:
    """Problems with ``body`` against a turn's ``expect`` (empty list: the request is what the turn expects)."""
    problems: list[str] = []
    raw_messages = body.get("messages")
    messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
    users = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    last = users[-1].get("content") if users else None
    blocks = [b for b in last if isinstance(b, dict)] if isinstance(last, list) else []
    results = {b.get("tool_use_id"): b for b in blocks if b.get("type") == "tool_result"}
    for tid in expect.get("last_user_has_tool_result_for", []):
        if tid not in results:
            problems.append(f"expected a tool_result for {tid} in the last user message, found {sorted(map(str, results))}")
    if "last_user_text_contains" in expect:
        texts = last if isinstance(last, str) else "\n".join(b.get("text", "") for b in blocks if b.get("type") == "text")
        if expect["last_user_text_contains"] not in texts:
            problems.append(f"expected the last user text to contain {expect['last_user_text_contains']!r}, got {texts[:200]!r}")
    for tid, needle in expect.get("tool_result_contains", {}).items():
        got = _text_of(results[tid].get("content", "")) if tid in results else None
        if got is None or needle not in got:
            problems.append(f"expected the tool_result for {tid} to contain {needle!r}, got {got if got is None else got[:300]!r}")
    for tid, flag in expect.get("tool_result_is_error", {}).items():
        if tid not in results or bool(results[tid].get("is_error", False)) != flag:
            problems.append(f"expected the tool_result for {tid} to have is_error={flag}")
    tool_names = {t.get("name") for t in body.get("tools") or [] if isinstance(t, dict)}
    for name in expect.get("tools_include", []):
        if name not in tool_names:
            problems.append(f"expected tool {name!r} in tools, got {sorted(map(str, tool_names))}")
    for beta in expect.get("betas_include", []):
        if beta not in betas:
            problems.append(f"expected beta {beta!r} in the anthropic-beta header, got {list(betas)}")
    if "message_count" in expect and len(messages) != expect["message_count"]:
        problems.append(f"expected {expect['message_count']} messages, got {len(messages)}")
    if "thinking_enabled" in expect:
        cfg = body.get("thinking")
        on = isinstance(cfg, dict) and cfg.get("type") in ("enabled", "adaptive")
        if on != expect["thinking_enabled"]:
            problems.append(f"expected thinking enabled={expect['thinking_enabled']}, got {cfg!r}")
    if "stream" in expect and bool(body.get("stream", False)) != expect["stream"]:
        problems.append(f"expected stream={expect['stream']}, got {body.get('stream')!r}")
    return problems
