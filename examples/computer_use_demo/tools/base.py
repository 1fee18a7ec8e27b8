"""Tool base class and result types, shaped like upstream's ``computer_use_demo/tools/base.py``."""

from __future__ import annotations

from abc import ABCMeta, abstractmethod
from dataclasses import dataclass, fields, replace
from typing import Any


class BaseAnthropicTool(metaclass=ABCMeta):
    """Abstract base class for Anthropic-defined tools."""

    @abstractmethod
    def __call__(self, **kwargs: Any) -> Any:
        """Executes the tool with the given arguments."""

    @abstractmethod
    def to_params(self) -> dict[str, Any]:
        """The tool definition sent in the request's ``tools`` list."""


@dataclass(kw_only=True, frozen=True)
class ToolResult:
    """Represents the result of a tool execution."""

    output: str | None = None
    error: str | None = None
    base64_image: str | None = None
    system: str | None = None

    def __bool__(self) -> bool:
        return any(getattr(self, field.name) for field in fields(self))

    def __add__(self, other: ToolResult) -> ToolResult:
        def combine(left: str | None, right: str | None, concatenate: bool = True) -> str | None:
            if left and right:
                if concatenate:
                    return left + right
                raise ValueError("Cannot combine tool results")
            return left or right

        return ToolResult(
            output=combine(self.output, other.output),
            error=combine(self.error, other.error),
            base64_image=combine(self.base64_image, other.base64_image, False),
            system=combine(self.system, other.system),
        )

    def replace(self, **kwargs: Any) -> ToolResult:
        """Returns a new ToolResult with the given fields replaced."""
        return replace(self, **kwargs)


class CLIResult(ToolResult):
    """A ToolResult that can be rendered as a CLI output."""


class ToolFailure(ToolResult):
    """A ToolResult that represents a failure."""


class ToolError(Exception):
    """Raised when a tool encounters an error."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
