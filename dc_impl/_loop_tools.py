"""Tool sets for the unified loop, and the runner that executes tool_use blocks.

Tool sets: inside a host tree, the host's ``TOOL_GROUPS_BY_VERSION[tool_version]`` with the streaming
classes of ``dc_impl.tools`` swapped in where their toggles are on (``substitution.substitute_tool_classes``:
matched by API type, so the model sees exactly the same tool definitions); standalone, our own
streaming bash and editor for the version.

``ToolRunner`` starts a tool as an asyncio task the moment its block is complete. Tool calls run in
block order: by default one at a time (``concurrency="serial"``: the shell and the editor share the file
system, so a later call may depend on an earlier one even across tools); ``"per_tool"`` lets calls to
different tool instances overlap while calls to the same instance still queue in order. A tool_use id
is dispatched at most once, whatever happens. Tool failures become ``is_error`` results: unknown tool,
invalid input, ``ToolError`` (its message) and any other exception (``repr``, logged).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._compat import ToolError, ToolFailure, ToolResult
from .stream_events import StreamEvent, ToolFinished, ToolOutputChunk, ToolStarted
from .substitution import streaming_classes, substitute_tool_classes

log = logging.getLogger(__name__)

PARTIAL_OUTPUT_KEEP = 2000  # chars of live output remembered per call, quoted when it is interrupted

# Our own tool set outside a host tree: version -> (beta flag, API types, resolved from dc_impl.tools).
OWN_TOOL_GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "computer_use_20241022": ("computer-use-2024-10-22", ("text_editor_20241022", "bash_20241022")),
    "computer_use_20250124": ("computer-use-2025-01-24", ("text_editor_20250124", "bash_20250124")),
    "computer_use_20250429": ("computer-use-2025-01-24", ("text_editor_20250429", "bash_20250124")),
}


# ------------------------------------------------------------------------------------------ tool sets


def host_tool_groups() -> Mapping[str, Any] | None:
    try:
        from ..tools.groups import TOOL_GROUPS_BY_VERSION  # type: ignore[import-not-found]
    except ImportError:
        return None
    return TOOL_GROUPS_BY_VERSION


def beta_flag_for(tool_version: str) -> str | None:
    """The computer-use beta flag of ``tool_version`` (host group, else our own table)."""
    groups = host_tool_groups()
    if groups is not None and tool_version in groups:
        return groups[tool_version].beta_flag
    return OWN_TOOL_GROUPS.get(tool_version, (None, ()))[0]


def tool_versions() -> list[str]:
    """The ``tool_version`` values this tree knows (the host's groups, else our own table)."""
    groups = host_tool_groups()
    return sorted(groups) if groups is not None else sorted(OWN_TOOL_GROUPS)


@dataclass
class ToolSet:
    tools: list[Any]
    beta_flag: str | None
    owned: bool  # we built the instances: we close them when the loop ends


def resolve_tool_set(tool_version: str, toggles: Any) -> ToolSet:
    """Tool instances and beta flag for ``tool_version`` (host group + toggles, or our own tools)."""
    groups = host_tool_groups()
    if groups is not None:
        group = groups[tool_version]
        classes = substitute_tool_classes(list(group.tools), toggles)
        return ToolSet([cls() for cls in classes], group.beta_flag, owned=True)
    if tool_version not in OWN_TOOL_GROUPS:
        raise KeyError(tool_version)
    beta_flag, api_types = OWN_TOOL_GROUPS[tool_version]
    available = {**streaming_classes("file"), **streaming_classes("bash")}
    missing = [t for t in api_types if t not in available]
    if missing:
        raise RuntimeError(f"streaming tools for {', '.join(missing)} are not available in dc_impl.tools")
    return ToolSet([available[t]() for t in api_types], beta_flag, owned=True)


# ---------------------------------------------------------------------------------------------- runner


@dataclass
class ToolRun:
    tool_use_id: str
    name: str
    input: dict[str, Any]
    index: int
    iteration: int
    input_error: str | None = None
    task: asyncio.Task[ToolResult] | None = None
    started_at: float | None = None
    finished_at: float | None = None
    status: str = "pending"  # pending | running | ok | error | interrupted | not_run
    result: ToolResult | None = None
    partial_output: list[str] = field(default_factory=list)
    partial_chars: int = 0

    @property
    def started(self) -> bool:
        return self.started_at is not None

    def remember_output(self, text: str) -> None:
        self.partial_output.append(text)
        self.partial_chars += len(text)
        while self.partial_chars > PARTIAL_OUTPUT_KEEP and len(self.partial_output) > 1:
            self.partial_chars -= len(self.partial_output.pop(0))


def _tool_error_text(exc: Exception, name: str) -> str:
    """A foreign ``ToolError`` (another tree's class, same shape) gives its message; anything else
    is a tool bug or bad arguments: logged, and ``repr`` (which keeps the type) goes to the model."""
    message = getattr(exc, "message", None)
    if type(exc).__name__ == "ToolError" and isinstance(message, str):
        return message
    log.exception("tool %s failed", name)
    return repr(exc)


class ToolRunner:
    def __init__(self, tools: list[Any], emit: Callable[[StreamEvent], None], *, concurrency: str = "serial") -> None:
        if concurrency not in ("serial", "per_tool"):
            raise ValueError(f"concurrency must be 'serial' or 'per_tool', not {concurrency!r}")
        self.tools = tools
        self.tool_map: dict[str, Any] = {tool.to_params()["name"]: tool for tool in tools}
        self._emit = emit
        self._concurrency = concurrency
        self._locks: dict[int, asyncio.Lock] = {}
        self._current: dict[int, ToolRun] = {}  # id(tool) -> call running on it
        self.runs: dict[str, ToolRun] = {}
        self.stream_open = False  # set by the loop while the model is still streaming
        self._restore: list[tuple[Any, str, Any]] = []
        for tool in tools:
            self._attach(tool)

    # live output ---------------------------------------------------------------------------------
    def _attach(self, tool: Any) -> None:
        for attr, make in (("on_output", self._output_cb), ("on_progress", self._progress_cb)):
            if hasattr(tool, attr):
                previous = getattr(tool, attr)
                self._restore.append((tool, attr, previous))
                setattr(tool, attr, make(tool, previous))

    def _output_cb(self, tool: Any, previous: Any) -> Callable[..., Any]:
        def on_output(chunk: Any) -> Any:
            run = self._current.get(id(tool))
            if run is not None:
                text = getattr(chunk, "text", chunk if isinstance(chunk, str) else str(chunk))
                run.remember_output(text)
                self._emit(ToolOutputChunk(tool_use_id=run.tool_use_id, name=run.name, text=text,
                                           stream=getattr(chunk, "stream", "stdout")))
            return previous(chunk) if previous is not None else None
        return on_output

    def _progress_cb(self, tool: Any, previous: Any) -> Callable[..., Any]:
        def on_progress(*args: Any, **kwargs: Any) -> Any:
            run = self._current.get(id(tool))
            if run is not None:
                first = args[0] if args else None
                done = kwargs.get("done", getattr(first, "done", first))
                total = kwargs.get("total", getattr(first, "total", args[1] if len(args) > 1 else None))
                self._emit(ToolOutputChunk(tool_use_id=run.tool_use_id, name=run.name, text="", stream="progress",
                                           done=done if isinstance(done, int) else None,
                                           total=total if isinstance(total, int) else None))
            return previous(*args, **kwargs) if previous is not None else None
        return on_progress

    # dispatch ------------------------------------------------------------------------------------
    def to_params(self) -> list[dict[str, Any]]:
        return [tool.to_params() for tool in self.tools]

    def dispatch(self, block: dict[str, Any], *, iteration: int, index: int,
                 input_error: str | None = None) -> ToolRun:
        """Start the call for a complete tool_use block (idempotent per tool_use id)."""
        existing = self.runs.get(block["id"])
        if existing is not None:
            return existing
        raw_input = block.get("input")
        run = ToolRun(block["id"], block.get("name", ""), raw_input if isinstance(raw_input, dict) else {},
                      index, iteration, input_error)
        self.runs[run.tool_use_id] = run
        run.task = asyncio.create_task(self._execute(run), name=f"tool:{run.name}:{run.tool_use_id}")
        return run

    def _lock_for(self, tool: Any) -> asyncio.Lock:
        key = 0 if self._concurrency == "serial" else id(tool)
        lock = self._locks.get(key)
        if lock is None:
            lock = self._locks[key] = asyncio.Lock()
        return lock

    async def _execute(self, run: ToolRun) -> ToolResult:
        tool = self.tool_map.get(run.name)
        if run.input_error is not None:
            return self._finish_now(run, ToolFailure(error=f"invalid tool input: {run.input_error}"))
        if tool is None:
            return self._finish_now(run, ToolFailure(error=f"Tool {run.name} is invalid"))
        async with self._lock_for(tool):
            self._mark_started(run)
            self._current[id(tool)] = run
            try:
                result = await tool(**run.input)
            except ToolError as exc:
                result = ToolFailure(error=exc.message)
            except asyncio.CancelledError:
                run.status = "interrupted"
                run.finished_at = time.monotonic()
                raise
            except Exception as exc:  # a tool bug or bad arguments: the model gets it as an error result
                result = ToolFailure(error=_tool_error_text(exc, run.name))
            finally:
                self._current.pop(id(tool), None)
        return self._finish(run, result)

    def _mark_started(self, run: ToolRun) -> None:
        run.started_at = time.monotonic()
        run.status = "running"
        self._emit(ToolStarted(iteration=run.iteration, index=run.index, tool_use_id=run.tool_use_id,
                               name=run.name, input=run.input, mid_stream=self.stream_open, t=run.started_at))

    def _finish_now(self, run: ToolRun, result: ToolResult) -> ToolResult:
        self._mark_started(run)
        return self._finish(run, result)

    def _finish(self, run: ToolRun, result: ToolResult) -> ToolResult:
        if run.result is not None:  # already reported as interrupted: history has that answer
            return run.result
        run.finished_at = time.monotonic()
        run.result = result
        run.status = "error" if result.error else "ok"
        self._emit(ToolFinished(tool_use_id=run.tool_use_id, name=run.name, is_error=bool(result.error),
                                duration_s=run.finished_at - (run.started_at or run.finished_at),
                                status=run.status, result=result, t=run.finished_at))
        return result

    # ending ----------------------------------------------------------------------------------------
    def started_in(self, iteration: int) -> bool:
        return any(r.iteration == iteration for r in self.runs.values())

    def interrupt_result(self, run: ToolRun, reason: str) -> ToolResult:
        """The is_error result for a call that did not finish: interrupted while running, or never run."""
        if run.result is not None:
            return run.result
        now = time.monotonic()
        if run.started:
            tail = "".join(run.partial_output)
            text = f"interrupted while running: {reason} (human stopped or interrupted tool execution)"
            if tail:
                text += f"\npartial output before the interruption:\n{tail}"
            run.status = "interrupted"
        else:
            text = f"not run: {reason}; the tool was never started"
            run.status = "not_run"
        result = ToolFailure(error=text)
        run.result, run.finished_at = result, now
        self._emit(ToolFinished(tool_use_id=run.tool_use_id, name=run.name, is_error=True,
                                duration_s=now - (run.started_at or now), status=run.status, result=result, t=now))
        return result

    def not_run(self, block: dict[str, Any], *, iteration: int, index: int, reason: str) -> ToolResult:
        """Answer a tool_use that will never be dispatched (truncated or refused message)."""
        run = self.runs.get(block["id"])
        if run is None:
            raw_input = block.get("input")
            run = ToolRun(block["id"], block.get("name", ""), raw_input if isinstance(raw_input, dict) else {},
                          index, iteration)
            self.runs[run.tool_use_id] = run
        return self.interrupt_result(run, reason)

    def cancel_unfinished(self) -> list[asyncio.Task[ToolResult]]:
        tasks = [r.task for r in self.runs.values() if r.task is not None and not r.task.done()]
        for task in tasks:
            task.cancel()
        return tasks

    async def aclose(self, *, close_tools: bool) -> None:
        tasks = self.cancel_unfinished()
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        for tool, attr, previous in self._restore:
            setattr(tool, attr, previous)
        if close_tools:
            for tool in self.tools:
                closer = getattr(tool, "aclose", None)
                if closer is not None:
                    try:
                        await closer()
                    except Exception:  # closing must not mask the loop's own outcome
                        log.exception("closing tool %s failed", getattr(tool, "name", tool))


__all__ = [
    "OWN_TOOL_GROUPS", "ToolRun", "ToolRunner", "ToolSet", "beta_flag_for", "host_tool_groups", "resolve_tool_set",
    "tool_versions",
]
