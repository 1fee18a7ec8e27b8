"""Issue 12.2: the command policy is linear in the command's length and never stalls the bash tool.

The expensive measurements run in a child process with a wall-clock limit, so a regression (a rule
gone quadratic: one 200,000-character word took 378 s before the fix) fails the test instead of
hanging the suite.
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from dc_impl.tools.bash.policy import (
    DEFAULT_POLICY,
    DEFAULT_RULES,
    CommandPolicy,
    DenyRule,
    command_programs,
)

ROOT = Path(__file__).resolve().parents[2]

# Inputs that made (or could make) a rule backtrack: one per rule and per part of command_programs.
PATHOLOGICAL = {
    "one long word": ("echo ", "z"),
    "rm rm rm": ("", "rm "),
    "rm then long option": ("rm -", "a"),
    "rm then blanks": ("rm ", " "),
    "rm then many options": ("rm", " -a"),
    "rm per line": ("", "rm\n"),
    "rm per line, flag and target at the end": ("", "rm\n"),
    "chmod chmod": ("", "chmod "),
    "chown options": ("chown", " -Ra"),
    "fork bomb heads": ("", "a(){ "),
    "fork bomb near misses": ("", "a(){ b|b& };"),
    "fork bomb long name": ("x(){ ", "a"),
    "colons": ("", ":"),
    "mkfs blanks": ("", " mkfs"),
    "redirect then blanks": (">", " "),
    "redirects": ("", "> "),
    "of=": ("", "of="),
    "sudo sudo": ("", "sudo "),
    "assignments": ("", "A=1 "),
    "options": ("x ", "-x "),
    "separators": ("", ";"),
    "subshells": ("", "$("),
    "hex blob": ("echo ", "0123456789abcdef"),
}
SUFFIX = {"rm per line, flag and target at the end": "; -r /"}

_CHILD = textwrap.dedent(r"""
    import json, sys, time
    from dc_impl.tools.bash.policy import DEFAULT_POLICY
    cases = json.loads(sys.argv[1])
    sizes = (1 << 16, 1 << 20)
    out = {}

    def cpu(command, reps):
        best = float("inf")
        for _ in range(reps):
            t0 = time.process_time()
            DEFAULT_POLICY.check(command)
            best = min(best, time.process_time() - t0)
        return best

    for name, (prefix, unit, suffix) in cases.items():
        times = []
        for size in sizes:
            body = unit * (size // len(unit) + 1)
            command = (prefix + body)[:size - len(suffix)] + suffix
            times.append(cpu(command, 3 if size < sizes[-1] else 1))
        out[name] = times
    print(json.dumps(out))
""")


def test_every_rule_checks_a_megabyte_fast_and_linearly() -> None:
    cases = {name: (prefix, unit, SUFFIX.get(name, "")) for name, (prefix, unit) in PATHOLOGICAL.items()}
    try:
        proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(cases)], cwd=ROOT, capture_output=True,
                              text=True, timeout=120)
    except subprocess.TimeoutExpired:
        pytest.fail("checking 64 KB and 1 MB pathological commands did not finish in 120 s")
    assert proc.returncode == 0, proc.stderr
    times = json.loads(proc.stdout)
    slow = {name: t for name, t in times.items() if t[1] > 1.0}
    assert not slow, f"1 MB took more than 1 s of CPU: {slow}"
    # 16x the input: linear is ~16x the time, quadratic ~256x; small times are noisy, hence the floor
    superlinear = {name: t for name, t in times.items() if t[1] > 48 * max(t[0], 0.002)}
    assert not superlinear, f"not linear (64 KB, 1 MB CPU seconds): {superlinear}"


# -- the linear matchers decide exactly what their regexes decide ------------------------------------

_NAMES = ["b", "B", "ab", "bomb", "xbomb", "BOMB", ":", "a:", "K", "k", "\u212a", "s", "\u017f", "x_1"]
_BLANKS = ["", " ", "  ", "\t", "\n", "\u00a0"]
_ARGS = ["-rf", "-r", "-R", "-f", "-xr", "-x", "--recursive", "--RECURSIVE", "-Rf", "/", "/*", "~", "~/", "~/*",
         "$HOME", "${HOME}", "$HOME/", "'/'", '"/"', "/tmp", "./x", "rm", "chmod", "-", "\u017f", "--", "x"]
_SEPS = [" ", "  ", "\t", "\n", ";", "; ", "&", "&&", "|", "||", "(", ")", " ) ", "\n-r"]


def _fork_like(rng: random.Random) -> str:
    def blank() -> str:
        return rng.choice(_BLANKS)

    usual = rng.choice(_NAMES)

    def name() -> str:   # mostly the same name, so that many commands are (near) matches
        return usual if rng.random() < 0.7 else rng.choice(_NAMES)
    parts = [name(), blank(), "()", blank(), "{", blank(), name(), blank(), "|", blank(),
             name(), blank(), "&", blank(), "}", blank(), rng.choice([";", ""]), blank(), name()]
    for _ in range(rng.randint(0, 2)):
        parts[rng.randrange(len(parts))] = rng.choice(["", "(", "x", " ", "()", "{", "|"])
    return "".join(parts)


def _rm_like(rng: random.Random) -> str:
    out = rng.choice(["", "sudo ", "(", "x;", "a ", "Xrm "])
    for _ in range(rng.randint(1, 3)):
        out += rng.choice(["rm", "RM", "chmod", "chown", "chgrp", "Rm"]) + rng.choice([" ", "\t", "\n"])
        for _ in range(rng.randint(0, 4)):
            out += rng.choice(_ARGS) + rng.choice(_SEPS)
    return out


def test_linear_matchers_agree_with_their_patterns() -> None:
    rng = random.Random(12)
    with_matcher = [rule for rule in DEFAULT_RULES if rule.matcher is not None]
    assert len(with_matcher) == 3
    hits = {rule.reason: 0 for rule in with_matcher}
    for i in range(20000):
        command = _fork_like(rng) if i % 2 else _rm_like(rng)
        if rng.random() < 0.3:
            command += rng.choice(_SEPS) + (_fork_like(rng) if rng.random() < 0.5 else _rm_like(rng))
        for rule in with_matcher:
            expected = re.search(rule.pattern or "", command, rule.flags) is not None
            assert rule.matcher is not None and rule.matcher(command) is expected, (rule.reason, command)
            hits[rule.reason] += expected
    assert all(n > 50 for n in hits.values()), hits   # the generator reaches every rule's matches


@pytest.mark.parametrize("command", [
    "rm x\n-rf /", "rm -r x rm /", "echo; rm -f x rm\n-r /", "xrm -rf /", "RM -Rf ~/*", "rm --RECURSIVE $home",
    "bomb(){ bomb|bomb& };bomb", "xbomb(){ bomb|bomb& };bomb", "BOMB(){ bomb|bomb& };bomb", "a(){ b|b& };bomb(){ bomb|bomb& };bomb",
    "a:(){ :|:& };:", "\u212a(){ k|k& };k", "chmod -R 1 x chown /", "chgrp\n-R x /",
])
def test_edge_cases_decided_as_the_patterns_decide(command: str) -> None:
    for rule in DEFAULT_RULES:
        if rule.matcher is not None:
            assert rule.matcher(command) is (re.search(rule.pattern or "", command, rule.flags) is not None), rule


def test_program_names_unchanged_and_skipped_when_absent() -> None:
    assert command_programs("A=1 sudo -E env B=2 nice /sbin/reboot now; (cd x && 'vim' y) | $(halt)") == \
        {"reboot", "cd", "vim", "halt"}
    assert command_programs("sudo " * 50000) == set()
    assert DEFAULT_POLICY.check("sudo -n /usr/sbin/shutdown -h now") is not None
    assert DEFAULT_POLICY.check("echo shutdown") is None
    custom = CommandPolicy([DenyRule("no editors", programs=frozenset({"vim"}))])
    assert custom.check("x; vim a") == "no editors" and custom.check("vi a") is None


# -- through the tool: the timeout holds and the loop keeps running -----------------------------------

_TOOL_CHILD = textwrap.dedent(r"""
    import asyncio, json, sys, time
    from dc_impl.tools.dc_bash import StreamingBashTool

    async def main():
        ticks, gaps = 0, [0.0]
        async def ticker():
            nonlocal ticks
            last = time.monotonic()
            while True:
                await asyncio.sleep(0.01)
                now = time.monotonic()
                gaps.append(now - last)
                last = now
                ticks += 1
        tool = StreamingBashTool(timeout=5)
        await tool(command="true")
        task = asyncio.create_task(ticker())
        await asyncio.sleep(0.05)
        t0 = time.monotonic()
        result = await tool(command="echo " + "z" * 200000 + " | wc -c")
        elapsed = time.monotonic() - t0
        task.cancel()
        await tool.aclose()
        print(json.dumps({"elapsed": elapsed, "ticks": ticks, "max_gap": max(gaps),
                          "output": result.output, "error": result.error}))

    asyncio.run(main())
""")


def test_tool_timeout_holds_and_loop_ticks_with_a_200k_word() -> None:
    try:
        proc = subprocess.run([sys.executable, "-c", _TOOL_CHILD], cwd=ROOT, capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("StreamingBashTool(timeout=5) with a 200,000-character word did not return in 60 s")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["error"] is None and data["output"] == "200001", data
    assert data["elapsed"] < 5 + 3, data
    assert data["max_gap"] < 1.0, data   # the event loop was never blocked for long


async def test_a_slow_policy_check_counts_against_the_timeout(tmp_path: Path) -> None:
    import time

    from dc_impl.tools.dc_bash import INLINE_CHECK_CHARS, StreamingBashTool

    def slow(command: str) -> bool:
        time.sleep(1.5)
        return False

    tool = StreamingBashTool(timeout=0.3, cwd=tmp_path,
                             policy=CommandPolicy([DenyRule("slow", pattern="x", matcher=slow)]))
    try:
        t0 = time.monotonic()
        result = await tool(command=f"touch ran # {'y' * INLINE_CHECK_CHARS}")
        assert time.monotonic() - t0 < 1.2
        assert result.error is not None and "policy check did not finish in 0.3 seconds" in result.error
        assert not (tmp_path / "ran").exists()
    finally:
        await tool.aclose()
