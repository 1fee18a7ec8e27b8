"""Issue 12.3: the bash tool's shell and everything it started never outlive the host process.

Each test runs a real child Python process hosting ``StreamingBashTool``, has it run
``sleep A & sleep B`` (A and B random, to find them in /proc), signals the host and requires the
shell, both sleeps and the watchdog to be gone within a few seconds.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

HOST = textwrap.dedent(r"""
    import asyncio, json, os, signal, sys, threading, time
    from dc_impl.tools.dc_bash import StreamingBashTool

    mode, a, b = sys.argv[1], sys.argv[2], sys.argv[3]

    def report(tool):
        try:
            from dc_impl.tools.bash.guard import watchdog_pid
        except ImportError:   # before issue 12.3
            watchdog_pid = lambda: None
        print(json.dumps({"shell": tool.session.pid, "watchdog": watchdog_pid()}), flush=True)

    async def work(tool):
        await tool(command="true")
        report(tool)
        await tool(command=f"sleep {a} & sleep {b}")

    if mode == "own-handler":   # the host's own SIGTERM handler, installed before any shell
        def own(signum, frame):
            os.write(1, b"own handler\n")
            os._exit(7)
        signal.signal(signal.SIGTERM, own)

    tool = StreamingBashTool(timeout=None)
    if mode == "thread":
        # a first loop on a thread that ends (its shell goes with it; the watchdog started there stays,
        # it gets its parent-death signal when the thread ends, once it is running), then the work on a
        # second thread's loop: no SIGTERM handler (not the main thread)
        first = threading.Thread(target=lambda: (asyncio.run(tool(command="true")), time.sleep(0.5)))
        first.start()
        first.join()
        threading.Thread(target=lambda: asyncio.run(work(tool)), daemon=True).start()
        threading.Event().wait()
    else:
        asyncio.run(work(tool))
""")


def _stat(pid: int) -> list[str] | None:
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = data.rsplit(")", 1)[1].split()
    return None if fields[0] in ("Z", "X") else fields


def _catches(pid: int, sig: int) -> bool:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) & (1 << (sig - 1)))
    return False


def _with_cmdline(text: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmd = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
            except OSError:
                continue
            if cmd == text and _stat(int(entry.name)) is not None:
                found.append(int(entry.name))
    return found


class Host:
    def __init__(self, mode: str) -> None:
        self.a, self.b = random.sample(range(40000, 99999), 2)
        self.proc = subprocess.Popen([sys.executable, "-c", HOST, mode, str(self.a), str(self.b)], cwd=ROOT,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, self.proc.stderr.read() if self.proc.stderr else ""
        info = json.loads(line)
        self.shell: int = info["shell"]
        self.watchdog: int | None = info["watchdog"]
        deadline = time.monotonic() + 10
        while len(self.sleeps()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.sleeps()) == 2, "the sleeps did not start"

    def sleeps(self) -> list[int]:
        return _with_cmdline(f"sleep {self.a}") + _with_cmdline(f"sleep {self.b}")

    def alive(self) -> list[int]:
        pids = [self.shell, *([self.watchdog] if self.watchdog else [])]
        return [pid for pid in pids if _stat(pid) is not None] + self.sleeps()

    def signal_and_wait(self, sig: int, within: float = 5.0) -> float:
        """Send ``sig``, wait for the host to end, then for everything else; seconds until all were gone."""
        t0 = time.monotonic()
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        while self.alive() and time.monotonic() - t0 < within:
            time.sleep(0.01)
        return time.monotonic() - t0

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pid in self.alive():
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@pytest.fixture
def host_factory() -> Iterator[type[Host]]:
    made: list[Host] = []

    class Tracked(Host):
        def __init__(self, mode: str) -> None:
            super().__init__(mode)
            made.append(self)

    yield Tracked
    for host in made:
        host.cleanup()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT], ids=["TERM", "KILL", "INT"])
def test_shell_and_jobs_die_with_the_host(host_factory: type[Host], sig: int) -> None:
    host = host_factory("main")
    watchdog_ran = host.watchdog is not None and _stat(host.watchdog) is not None
    elapsed = host.signal_and_wait(sig)
    left = host.alive()
    assert not left, f"{len(left)} process(es) outlived the host {elapsed:.2f} s after {signal.Signals(sig).name}"
    assert watchdog_ran
    if sig != signal.SIGINT:
        assert host.proc.returncode == -sig   # the host still dies of the signal, as without the tool


def test_the_hosts_own_sigterm_handler_still_runs(host_factory: type[Host]) -> None:
    host = host_factory("own-handler")
    host.signal_and_wait(signal.SIGTERM)
    assert host.proc.returncode == 7
    assert host.proc.stdout is not None and host.proc.stdout.read() == "own handler\n"
    assert not host.alive()


def test_loops_on_threads_watchdog_outlives_the_thread_not_the_host(host_factory: type[Host]) -> None:
    host = host_factory("thread")
    # the first thread (which started the watchdog) has ended; its parent-death signal was ignored
    assert host.watchdog is not None and _stat(host.watchdog) is not None
    host.signal_and_wait(signal.SIGKILL)
    assert not host.alive()


async def test_registered_while_alive_forgotten_after_close(tmp_path: Path) -> None:
    from dc_impl.tools.bash import guard as _bash_guard
    from dc_impl.tools.dc_bash import StreamingBashTool

    tool = StreamingBashTool(cwd=tmp_path)
    try:
        assert (await tool(command="echo hi")).output == "hi"
        shell = tool.session.pid
        assert shell is not None and shell in _bash_guard._shells
        watchdog = _bash_guard.watchdog_pid()
        assert watchdog is not None
        deadline = time.monotonic() + 10
        while not _catches(watchdog, signal.SIGTERM) and time.monotonic() < deadline:
            time.sleep(0.01)   # the watchdog is still starting (Python startup)
        os.kill(watchdog, signal.SIGTERM)   # our own process is alive: the watchdog ignores it
        time.sleep(0.2)
        assert _stat(watchdog) is not None and (await tool(command="echo still")).output == "still"
    finally:
        await tool.aclose()
    assert shell not in _bash_guard._shells


def test_parent_death_preexec_kills_the_child_with_its_parent(tmp_path: Path) -> None:
    """The helper alone (no watchdog): a child started with it dies when its parent is SIGKILLed."""
    n = random.randint(40000, 99999)
    script = textwrap.dedent(f"""
        import subprocess, sys, time
        from dc_impl.tools.procs import parent_death_preexec
        subprocess.Popen(["sleep", "{n}"], preexec_fn=parent_death_preexec())
        print("ok", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ok\n"
        assert _with_cmdline(f"sleep {n}")
        proc.kill()
        proc.wait()
        deadline = time.monotonic() + 3
        while _with_cmdline(f"sleep {n}") and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not _with_cmdline(f"sleep {n}")
    finally:
        for pid in _with_cmdline(f"sleep {n}"):
            os.kill(pid, signal.SIGKILL)
