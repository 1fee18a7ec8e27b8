"""Helpers for the unified loop's end-to-end tests: real subprocess tools, callback recorder, runner."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from dc_impl._compat import BaseAnthropicTool, ToolError, ToolResult
from dc_impl.unified_streaming_loop import RetryPolicy, sampling_loop

FAST_RETRY = RetryPolicy(max_retries=2, base_delay_s=0.02, max_delay_s=0.1, jitter=0.0)


@dataclass(frozen=True)
class Chunk:
    text: str
    stream: str


class ShellTool(BaseAnthropicTool):
    """A real ``bash -c`` per call (own process group), line output to ``on_output``, killed on cancel."""

    name: ClassVar[str] = "bash"
    api_type: ClassVar[str] = "bash_20250124"

    def __init__(self) -> None:
        self.on_output: Any = None
        self.pids: list[int] = []

    def to_params(self) -> dict[str, Any]:
        return {"type": self.api_type, "name": self.name}

    async def __call__(self, *, command: str | None = None, restart: bool = False) -> ToolResult:
        if restart:
            return ToolResult(system="tool has been restarted.")
        if command is None:
            raise ToolError("no command provided.")
        proc = await asyncio.create_subprocess_exec(
            "bash", "-c", command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL, start_new_session=True)
        self.pids.append(proc.pid)
        out: list[str] = []
        try:
            assert proc.stdout is not None and proc.stderr is not None
            async for raw in proc.stdout:
                line = raw.decode(errors="replace")
                out.append(line)
                if self.on_output is not None:
                    self.on_output(Chunk(line, "stdout"))
            err = (await proc.stderr.read()).decode(errors="replace")
            await proc.wait()
        except asyncio.CancelledError:
            os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        return ToolResult(output="".join(out), error=err or None)


class NotesTool(BaseAnthropicTool):
    """A minimal ``str_replace_based_edit_tool`` that views real files (enough for routing tests)."""

    name: ClassVar[str] = "str_replace_based_edit_tool"
    api_type: ClassVar[str] = "text_editor_20250429"

    def to_params(self) -> dict[str, Any]:
        return {"type": self.api_type, "name": self.name}

    async def __call__(self, *, command: str, path: str, **_: Any) -> ToolResult:
        if command != "view":
            raise ToolError(f"unsupported command {command}")
        return ToolResult(output=Path(path).read_text())


@dataclass
class Recorder:
    outputs: list[dict[str, Any]] = field(default_factory=list)
    tool_outputs: list[tuple[ToolResult, str]] = field(default_factory=list)
    responses: list[tuple[Any, Any, Exception | None]] = field(default_factory=list)
    events: list[Any] = field(default_factory=list)
    watch: Callable[[Recorder], None] | None = None  # called after every stream event

    def of(self, kind: str) -> list[Any]:
        return [e for e in self.events if e.kind == kind]

    def on_event(self, event: Any) -> None:
        self.events.append(event)
        if self.watch is not None:
            self.watch(self)

    def callbacks(self) -> dict[str, Any]:
        return {"output_callback": self.outputs.append,
                "tool_output_callback": lambda result, tid: self.tool_outputs.append((result, tid)),
                "api_response_callback": lambda req, resp, err: self.responses.append((req, resp, err)),
                "stream_callback": self.on_event}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": text}]}


async def run_loop(messages: list[dict[str, Any]], rec: Recorder, *, tools: list[Any] | None = None,
                   **kw: Any) -> list[dict[str, Any]]:
    """Run the unified loop against ``$ANTHROPIC_BASE_URL`` (set by the test) with test defaults."""
    params: dict[str, Any] = {
        "model": "claude-sonnet-4-6", "provider": "anthropic", "system_prompt_suffix": "", "messages": messages,
        "api_key": "test", "tool_version": "computer_use_20250429", "retry_policy": FAST_RETRY,
        "tools": tools if tools is not None else [ShellTool(), NotesTool()], **rec.callbacks()}
    params.update(kw)
    return await sampling_loop(**params)


def text_turn(text: str, **extra: Any) -> dict[str, Any]:
    return {"blocks": [{"type": "text", "text": text, "chunk_size": 8}], "stop_reason": "end_turn", **extra}


def scenario(*turns: dict[str, Any], name: str = "unified_loop_test") -> dict[str, Any]:
    return {"name": name, "description": "unified loop test", "defaults": {"model": "claude-sonnet-4-6"},
            "turns": list(turns)}


def tool_results(message: dict[str, Any]) -> list[dict[str, Any]]:
    return [b for b in message["content"] if b.get("type") == "tool_result"]


def result_text(block: dict[str, Any]) -> str:
    content = block["content"]
    if isinstance(content, str):
        return content
    return "".join(c.get("text", "") for c in content)
