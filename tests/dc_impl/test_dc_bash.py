"""StreamingBashTool against real bash: framing, streaming, caps, timeouts, cleanup, policy, hosts."""

from __future__ import annotations

import asyncio
import gc
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from dc_impl._compat import ToolError, ToolResult
from dc_impl.tools.dc_bash import (
    CommandPolicy,
    OutputChunk,
    StreamingBashTool,
    StreamingBashTool20241022,
    StreamingBashTool20250124,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


async def wait_dead(pids: list[int], within: float = 5.0) -> list[int]:
    """Pids still alive after ``within`` seconds (killed processes need a moment to be reaped)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        alive = [p for p in pids if pid_alive(p)]
        if not alive:
            return []
        await asyncio.sleep(0.05)
    return [p for p in pids if pid_alive(p)]


def read_pids(path: Path) -> list[int]:
    return [int(x) for x in path.read_text().split()]


@pytest.fixture
async def tool(tmp_path: Path) -> AsyncIterator[StreamingBashTool]:
    t = StreamingBashTool(cwd=tmp_path, spill_dir=tmp_path)
    yield t
    await t.aclose()


# -- contract -----------------------------------------------------------------------------------

def test_params_names_and_no_arg_construction() -> None:
    assert StreamingBashTool().to_params() == {"type": "bash_20250124", "name": "bash"}
    assert StreamingBashTool20250124 is StreamingBashTool
    assert StreamingBashTool20241022().to_params() == {"type": "bash_20241022", "name": "bash"}
    assert StreamingBashTool.name == "bash" and StreamingBashTool.api_type == "bash_20250124"


async def test_upstream_messages(tool: StreamingBashTool) -> None:
    with pytest.raises(ToolError) as err:
        await tool()
    assert err.value.message == "no command provided."
    with pytest.raises(ToolError, match="command must be a string"):
        await tool(command=["ls"])
    assert await tool(restart=True) == ToolResult(system="tool has been restarted.")
    tool.timeout = None                                        # no limit at all is allowed
    assert (await tool(command="echo unlimited")).output == "unlimited"


async def test_echo_cwd_env_persist(tool: StreamingBashTool, tmp_path: Path) -> None:
    t0 = time.monotonic()
    r = await tool(command="echo hi")
    assert r.output == "hi" and r.error is None
    assert time.monotonic() - t0 < 2.0
    (tmp_path / "sub").mkdir()
    await tool(command="cd sub && export DC_T=42 && f() { echo fn-$1; }")
    r = await tool(command="pwd; echo $DC_T; f x")
    assert r.output == f"{tmp_path / 'sub'}\n42\nfn-x"
    assert tool.session.cwd == str(tmp_path / "sub")


async def test_exit_codes_reported(tool: StreamingBashTool) -> None:
    r = await tool(command="false")
    assert r.output is None and r.error == "[exit code: 1]"
    r = await tool(command="true")
    assert r.output == "" and r.error is None
    r = await tool(command="nonexistent_cmd_xyz")
    assert "command not found" in r.error and r.error.endswith("[exit code: 127]")
    assert "bash: line 1: nonexistent_cmd_xyz" in r.error      # the script file's path is not shown
    r = await tool(command="echo out; echo warn >&2")          # success with stderr is not an error
    assert r.error is None and r.output == "out\n[stderr]\nwarn"
    r = await tool(command="echo $?")                          # $? carries over like in a terminal
    assert r.output == "0"


async def test_exit_ends_shell_and_next_call_gets_a_new_one(tool: StreamingBashTool, tmp_path: Path) -> None:
    await tool(command="export KEEP=1; sleep 300 & echo $! > bg.pid")
    bg = read_pids(tmp_path / "bg.pid")
    old_pid = tool.session.pid
    t0 = time.monotonic()
    r = await tool(command="echo bye; exit 3")
    assert time.monotonic() - t0 < 5.0
    assert r.error.startswith("bye\n[exit code: 3]\n[the command exited the shell")
    assert await wait_dead(bg) == []                           # the dead shell's jobs die with it
    r = await tool(command="pwd; echo ${KEEP:-unset}")
    assert r.output.endswith(f"{tmp_path}\nunset") and tool.session.pid != old_pid


async def test_trailing_ampersand_heredoc_comment_stdin(tool: StreamingBashTool) -> None:
    t0 = time.monotonic()
    r = await tool(command="sleep 30 &")
    assert r.output == "" and time.monotonic() - t0 < 2.0
    r = await tool(command="cat <<'EOF'\nx $HOME\nEOF")
    assert r.output == "x $HOME"
    assert (await tool(command="echo a # c")).output == "a"
    t0 = time.monotonic()
    r = await tool(command="read x; echo rc=$?; cat; python3 -c 'import sys; print(len(sys.stdin.read()))'")
    assert r.output == "rc=1\n0" and time.monotonic() - t0 < 5.0
    t0 = time.monotonic()                                      # redirecting the shell's own streams is fine
    r = await tool(command="exec 2>&1; echo a; echo b >&2")
    assert r.output == "a\nb" and time.monotonic() - t0 < 5.0
    assert (await tool(command="exec >/dev/null; echo gone; echo err >&2")).output == "err"  # 2 is the old 1
    r = await tool(command='echo "unbalanced')                # syntax error is reported, session survives
    assert "unexpected EOF" in r.error
    assert (await tool(command="echo fine >&2")).output == "fine"       # stderr still goes to stdout


async def test_non_utf8_and_sentinel_text(tool: StreamingBashTool) -> None:
    assert (await tool(command=r"printf '\xff'")).output == "\ufffd"
    assert (await tool(command=r"printf 'a\xe2\x82'")).output == "a\ufffd"
    r = await tool(command=r"printf '\xe2\x82'; sleep 0.2; printf '\xac\n'")   # split character
    assert r.output == "\u20ac"
    r = await tool(command=r"echo '<<exit>>'; printf '\x1f\x1eDC:0000:0:/\x1e\n'; echo after")
    assert r.output == "<<exit>>\n\x1f\x1eDC:0000:0:/\x1e\nafter"


async def test_large_output_capped_with_spill_file(tmp_path: Path) -> None:
    tool = StreamingBashTool(max_output_chars=1000, spill_dir=tmp_path, cwd=tmp_path)
    try:
        payload = bytes(range(256)) * 8000                     # 2 MB, mostly invalid UTF-8
        t0 = time.monotonic()
        r = await tool(command="python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 8000)'")
        assert time.monotonic() - t0 < 10.0
        assert r.error is None
        text = payload.decode("utf-8", errors="replace")
        head, _, rest = r.output.partition("\n[... ")
        note, _, tail = rest.partition(" ...]\n")
        assert head == text[:500] and tail == text[-500:]
        assert f"{len(text) - 1000} of {len(text)} characters of stdout omitted" in note
        spill = Path(note.split(" is saved in ")[1].split(";")[0])
        assert spill.parent == tmp_path and spill.read_bytes() == payload
        r = await tool(command="seq 1 250")                    # 891 bytes: under the cap, no note
        assert r.output == "\n".join(map(str, range(1, 251)))
        r = await tool(command="echo small")
        assert r.output == "small" and sorted(tmp_path.glob("dc_bash_*")) == [spill]
    finally:
        await tool.aclose()


async def test_megabytes_with_default_cap_do_not_hang(tool: StreamingBashTool) -> None:
    t0 = time.monotonic()
    r = await tool(command="seq 1 400000; seq 1 50000 >&2")
    assert time.monotonic() - t0 < 10.0
    assert r.output.startswith("1\n2\n3\n") and "omitted" in r.output
    out, _, err = r.output.partition("\n[stderr]\n")
    assert out.endswith("399999\n400000") and err.endswith("49999\n50000")
    assert len(out) < 31000 and len(err) < 31000


# -- streaming ----------------------------------------------------------------------------------

async def test_chunks_arrive_before_the_command_ends(tool: StreamingBashTool) -> None:
    seen: list[tuple[float, OutputChunk]] = []
    tool.on_output = lambda c: seen.append((time.monotonic(), c))
    t0 = time.monotonic()
    r = await tool(command="for i in 1 2 3; do echo $i; sleep 0.3; done")
    t_end = time.monotonic()
    assert r.output == "1\n2\n3"
    first = next(t for t, c in seen if c.text.startswith("1"))
    assert first - t0 < t_end - t0 - 0.4                       # "1" came well before the end
    assert "".join(c.text for _, c in seen) == "1\n2\n3\n"
    assert all(isinstance(c.stream, str) and c.stream == "stdout" for _, c in seen)


async def test_each_line_reaches_on_output_within_milliseconds(tool: StreamingBashTool) -> None:
    """Latency from the moment the command writes a line to ``on_output`` getting it (wall clock on
    both sides). A poller (upstream polls every 0.2 s) would have a median near 100 ms."""
    latencies: list[float] = []

    def cb(chunk: OutputChunk) -> None:
        now = time.time()
        latencies.extend(now - float(line) for line in chunk.text.split())

    tool.on_output = cb
    script = "import time\nfor _ in range(9):\n    print(time.time(), flush=True)\n    time.sleep(0.07)\n"
    r = await tool(command=f"{sys.executable} -c '{script}'")
    assert r.error is None and len(latencies) == 9
    assert sorted(latencies)[4] < 0.04, latencies              # median


async def test_async_callback_and_stderr_tags(tool: StreamingBashTool) -> None:
    seen: list[OutputChunk] = []

    async def cb(chunk: OutputChunk) -> None:
        await asyncio.sleep(0.001)
        seen.append(chunk)

    tool.on_output = cb
    await tool(command="echo out1; sleep 0.1; echo err1 >&2; sleep 0.1; echo out2")
    assert [(c.stream, c.text) for c in seen] == [("stdout", "out1\n"), ("stderr", "err1\n"), ("stdout", "out2\n")]


async def test_slow_async_callback_gets_everything_in_order(tool: StreamingBashTool) -> None:
    got: list[str] = []

    async def slow(chunk: OutputChunk) -> None:
        await asyncio.sleep(0.002)
        got.append(chunk.text)

    tool.on_output = slow
    r = await tool(command="seq 1 200000")
    assert "".join(got) == "".join(f"{i}\n" for i in range(1, 200001))
    assert r.error is None


async def test_failing_callback_does_not_break_the_call(tool: StreamingBashTool) -> None:
    def boom(chunk: OutputChunk) -> None:
        raise RuntimeError("ui broke")

    tool.on_output = boom
    assert (await tool(command="echo still")).output == "still"


async def test_background_output_between_calls_is_labelled(tool: StreamingBashTool) -> None:
    await tool(command="(sleep 0.2; echo late) &")
    await asyncio.sleep(0.6)
    r = await tool(command="echo now")
    assert r.output == "[output from background jobs since the previous command:]\nlate\n" \
                       "[end of background output]\nnow"
    assert (await tool(command="echo again")).output == "again"


# -- timeouts, restart, cleanup -------------------------------------------------------------------

async def test_timeout_kills_the_commands_processes_and_session_survives(tmp_path: Path) -> None:
    tool = StreamingBashTool(timeout=1.0, cwd=tmp_path)
    try:
        await tool(command="export SURVIVES=yes; sleep 300 & echo $! > old.pid")
        old = read_pids(tmp_path / "old.pid")
        t0 = time.monotonic()
        r = await tool(command="echo started; sleep 300 & echo $! >> p; setsid sleep 300 & echo $! >> p; "
                               "bash -c 'echo $$ >> p; exec sleep 300'")
        assert time.monotonic() - t0 < 6.0
        # bash may report the killed background job ("... Killed  setsid sleep 300") on stderr first
        assert r.error.startswith("started\n")
        assert "timed out: bash has not returned in 1.0 seconds; the command was interrupted" in r.error
        assert "shell session is still usable" in r.error
        pids = read_pids(tmp_path / "p")
        assert len(pids) == 3 and await wait_dead(pids) == []
        assert pid_alive(old[0])                              # a job from an earlier call is spared
        assert (await tool(command="echo $SURVIVES; pwd")).output == f"yes\n{tmp_path}"
        await tool.aclose()
        assert await wait_dead(old) == []
    finally:
        await tool.aclose()


async def test_timeout_in_a_builtin_loop_kills_the_shell(tmp_path: Path) -> None:
    tool = StreamingBashTool(timeout=0.5, cwd=tmp_path)
    try:
        await tool(command="export GONE=1")
        shell_pid = tool.session.pid
        assert shell_pid is not None
        r = await tool(command="while :; do :; done")
        assert "so it and the shell were killed" in r.error and "0.5 seconds" in r.error
        assert await wait_dead([shell_pid]) == []
        r = await tool(command="echo ${GONE:-reset}; pwd")
        assert r.output == f"reset\n{tmp_path}"
    finally:
        await tool.aclose()


async def test_restart_kills_old_group(tool: StreamingBashTool, tmp_path: Path) -> None:
    r = await tool(command="cd / && sleep 300 & echo $!")
    pid = int(r.output)
    old_shell = tool.session.pid
    assert await tool(restart=True) == ToolResult(system="tool has been restarted.")
    assert await wait_dead([pid, old_shell]) == []
    assert (await tool(command="pwd")).output == str(tmp_path)


async def test_aclose_and_close_leave_no_orphans(tmp_path: Path) -> None:
    for closer in ("aclose", "close", "gc"):
        tool = StreamingBashTool(cwd=tmp_path)
        r = await tool(command="sleep 300 & echo $!; (sleep 300 &) ; pgrep -s 0 -x sleep | sort")
        pids = [int(x) for x in r.output.split()]
        shell = tool.session.pid
        assert len(set(pids)) == 2 and shell is not None
        if closer == "aclose":
            await tool.aclose()
        elif closer == "close":
            tool.close()
        else:
            del tool
            gc.collect()
        assert await wait_dead([*pids, shell]) == [], closer


async def test_cancelled_call_kills_its_processes(tool: StreamingBashTool, tmp_path: Path) -> None:
    task = asyncio.ensure_future(tool(command="sleep 300 & echo $! > c.pid; sleep 300"))
    deadline = time.monotonic() + 5
    while not (tmp_path / "c.pid").exists() and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await wait_dead(read_pids(tmp_path / "c.pid")) == []
    r = await tool(command="echo next")
    assert r.output.startswith("[the previous command was cancelled") and r.output.endswith("next")


async def test_dead_shell_reports_upstream_message(tool: StreamingBashTool) -> None:
    await tool(command="true")
    pid = tool.session.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    await wait_dead([pid])
    await asyncio.sleep(0.1)
    r = await tool(command="echo x")
    assert r == ToolResult(system="tool must be restarted", error="bash has exited with returncode -9")
    await tool(restart=True)
    assert (await tool(command="echo x")).output == "x"


def test_tool_survives_a_change_of_event_loop(tmp_path: Path) -> None:
    tool = StreamingBashTool(cwd=tmp_path)
    (tmp_path / "d").mkdir()
    asyncio.run(tool(command="cd d"))
    r = asyncio.run(tool(command="pwd"))
    assert "another event loop" in r.output and r.output.endswith(str(tmp_path / "d"))
    asyncio.run(tool.aclose())


# -- policy ---------------------------------------------------------------------------------------

async def test_policy_refuses_before_running(tool: StreamingBashTool, tmp_path: Path) -> None:
    with pytest.raises(ToolError) as err:
        await tool(command=f"touch {tmp_path}/ran; rm -rf /")
    assert err.value.message == "command refused by policy: recursive delete of the filesystem root or the " \
                                "home directory"
    assert not (tmp_path / "ran").exists()
    tool.policy = CommandPolicy.from_config([{"reason": "no editors", "programs": ["vim"]}])
    with pytest.raises(ToolError, match="command refused by policy: no editors"):
        await tool(command="cd /tmp && sudo vim x")
    assert (await tool(command="echo vim")).output == "vim"
    tool.policy = CommandPolicy.allow_all()
    assert (await tool(command="echo rm -rf /")).output == "rm -rf /"


# -- hosts ----------------------------------------------------------------------------------------

async def test_inside_the_stand_in_tool_collection(tmp_path: Path) -> None:
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    from computer_use_demo.tools import ToolCollection, ToolFailure

    tool = StreamingBashTool(cwd=tmp_path)
    try:
        coll = ToolCollection(tool)
        assert coll.to_params() == [{"type": "bash_20250124", "name": "bash"}]
        r = await coll.run(name="bash", tool_input={"command": "echo hi; false"})
        assert r.error == "hi\n[exit code: 1]"
        r = await coll.run(name="bash", tool_input={"restart": True})
        assert r.system == "tool has been restarted."
        # standalone, dc_impl raises its own ToolError; the host's ToolFailure mapping is checked deployed
        assert not isinstance(r, ToolFailure)
    finally:
        await tool.aclose()


def test_runs_unchanged_when_deployed_inside_the_host_tree(tmp_path: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "tests")
    target = tmp_path / "computer_use_demo"
    shutil.copytree(EXAMPLES / "computer_use_demo", target, ignore=ignore)
    shutil.copytree(ROOT / "dc_impl", target / "dc_impl", ignore=ignore)
    script = textwrap.dedent("""
        import asyncio
        from computer_use_demo.tools import ToolCollection, ToolFailure, CLIResult
        from computer_use_demo.dc_impl import _compat
        from computer_use_demo.dc_impl.tools.dc_bash import StreamingBashTool

        async def main():
            assert _compat.IN_HOST_TREE
            tool = StreamingBashTool()
            coll = ToolCollection(tool)
            ok = await coll.run(name="bash", tool_input={"command": "echo deployed"})
            bad = await coll.run(name="bash", tool_input={"command": "rm -rf ~"})
            await tool.aclose()
            assert isinstance(ok, CLIResult) and ok.output == "deployed", ok
            assert isinstance(bad, ToolFailure) and "refused" in bad.error, bad
            print("OK")

        asyncio.run(main())
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "OK", proc.stderr


# -- building blocks --------------------------------------------------------------------------------

def test_marker_found_at_every_split_position() -> None:
    from dc_impl.tools.bash.output import MarkerScanner

    stream = b"out \x1f\x1eDC:zz \x1f" + b"\x1f\x1eDC:abc12:0:/x y\x1e\n" + b"after"
    for cut in range(len(stream) + 1):
        scanner = MarkerScanner()
        scanner.arm("abc12")
        before, payloads, after = b"", [], b""
        for part in (stream[:cut], stream[cut:]):
            b, p, a = scanner.feed(part)
            before, after = before + b, after + a
            payloads += [p] if p is not None else []
        assert (before, payloads, after) == (b"out \x1f\x1eDC:zz \x1f", [b"0:/x y"], b"after"), cut


def test_capture_head_tail_exact_and_spill_only_when_capped(tmp_path: Path) -> None:
    from dc_impl.tools.bash.output import StreamCapture, new_decoder

    data = ("ab\u20acc\n" * 3000).encode() + b"\xff"
    for max_chars, size in ((100, 7), (100000, 4096), (1000, 1)):
        cap, dec = StreamCapture("stdout", max_chars, tmp_path), new_decoder()
        for i in range(0, len(data), size):
            cap.add_bytes(data[i:i + size])
            cap.add_text(dec.decode(data[i:i + size]))
        cap.add_text(dec.decode(b"", final=True))
        text, full = cap.finish(), data.decode(errors="replace")
        if max_chars >= len(full):
            assert text == full and cap.spill_path is None
        else:
            assert text.startswith(full[:max_chars // 2]) and text.endswith(full[-(max_chars // 2):])
            assert cap.spill_path is not None and cap.spill_path.read_bytes() == data
    assert len(list(tmp_path.iterdir())) == 2


async def test_emitter_pauses_pipes_for_a_slow_async_callback() -> None:
    from dc_impl.tools.bash.emit import Emitter

    got: list[OutputChunk] = []
    events: list[str] = []

    async def slow(chunk: OutputChunk) -> None:
        await asyncio.sleep(0.01)
        got.append(chunk)

    em = Emitter(slow, high_water=100)
    em.bind(lambda: events.append("pause"), lambda: events.append("resume"))
    texts = [f"{i:04d}|" for i in range(60)]
    for i, text in enumerate(texts):
        em.emit(OutputChunk(text, "stdout" if i < 40 else "stderr"))
    assert await em.drain(10.0)
    assert events == ["pause", "resume"]
    assert "".join(c.text for c in got) == "".join(texts)
    assert len(got) < 60 and {c.stream for c in got[-1:]} == {"stderr"}   # merged, streams kept apart


@pytest.mark.parametrize(("command", "refused"), [
    ("rm -rf /", True), ("sudo rm -fr ~", True), ("rm -r /*", True), ("rm -rf ./build /tmp/x", False),
    (":(){ :|:& };:", True), ("mkfs.ext4 /dev/sdb1", True), ("dd if=/dev/zero of=/dev/sda", True),
    ("dd if=a of=b.img", False), ("chmod -R 777 /", True), ("chmod -R 755 ./dist", False),
    ("ls; reboot", True), ("echo reboot", False), ("git log --oneline", False),
])
def test_default_policy(command: str, refused: bool) -> None:
    from dc_impl.tools.dc_bash import DEFAULT_POLICY

    assert (DEFAULT_POLICY.check(command) is not None) is refused
