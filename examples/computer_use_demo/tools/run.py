"""Shell helper used by the edit and computer tools (upstream's ``tools/run.py``)."""

from __future__ import annotations

import asyncio

TRUNCATED_MESSAGE: str = (
    "<response clipped><NOTE>To save on context only part of this file has been shown to you. "
    "You should retry this tool after you have searched inside the file with `grep -n` in order to "
    "find the line numbers of what you are looking for.</NOTE>"
)
MAX_RESPONSE_LEN: int = 16000


def maybe_truncate(content: str, truncate_after: int | None = MAX_RESPONSE_LEN) -> str:
    """Cut ``content`` after ``truncate_after`` characters and append the clipped-response note."""
    if not truncate_after or len(content) <= truncate_after:
        return content
    return content[:truncate_after] + TRUNCATED_MESSAGE


async def run(
    cmd: str,
    timeout: float | None = 120.0,  # seconds
    truncate_after: int | None = MAX_RESPONSE_LEN,
) -> tuple[int, str, str]:
    """Run a shell command asynchronously with a timeout; return (returncode, stdout, stderr)."""
    process = await asyncio.create_subprocess_shell(
        cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=timeout)
    except TimeoutError as exc:
        try:
            process.kill()
        except ProcessLookupError:
            pass
        raise TimeoutError(f"Command '{cmd}' timed out after {timeout} seconds") from exc
    return (
        process.returncode or 0,
        maybe_truncate(stdout.decode(), truncate_after=truncate_after),
        maybe_truncate(stderr.decode(), truncate_after=truncate_after),
    )
