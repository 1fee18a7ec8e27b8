"""``dc_impl.frontends.text_safety``: control characters shown visibly, streamed output kept as a bounded head
and tail with exact counts of what was left out (shared by the terminal chat and the Streamlit page)."""

from __future__ import annotations

import random
import time

from dc_impl.frontends.text_safety import HeadTail, clip_text, omitted_note, one_line, safe_text


def test_controls_escapes_and_bidi_are_rendered_visibly() -> None:
    assert safe_text("\x1b[2J\x1b[H\x1b]0;pwned\x07") == "␛[2J␛[H␛]0;pwned␇"
    assert safe_text("a\x00b\x08c\x7fd") == "a␀b␈c␡d"
    assert safe_text("\u009b31m \u0085 \u0090") == "<U+009B>31m <U+0085> <U+0090>"
    assert safe_text("x\u202eexe.txt\u202c \u2066y\u2069 \u200f") == "x<U+202E>exe.txt<U+202C> <U+2066>y<U+2069> <U+200F>"
    assert safe_text("line\r\nnext\rover") == "line\nnext␍over"
    assert safe_text("bad \udc80 surrogate") == "bad <U+DC80> surrogate"
    keep = "tab\there\nnewline, ünïcödé, 中文, emoji 🙂, [bold]markup[/bold]"
    assert safe_text(keep) is keep  # nothing to do: the same object back


def test_every_unsafe_code_point_is_replaced_and_the_result_is_printable() -> None:
    everything = "".join(chr(c) for c in range(0x00, 0x3000) if not 0xD800 <= c <= 0xDFFF)
    out = safe_text(everything)
    assert not any(0 <= ord(ch) < 0x20 and ch not in "\n\t" for ch in out)
    assert not any(0x7F <= ord(ch) <= 0x9F for ch in out)
    assert not set(out) & {"\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"}


def test_safe_text_is_linear() -> None:
    for text in ("\x1b" * 1_000_000, "x" * 4_000_000, "a\x1b" * 500_000):
        t = time.perf_counter()
        out = safe_text(text)
        assert time.perf_counter() - t < 2.0
        assert "\x1b" not in out


def test_one_line_titles() -> None:
    assert one_line("bash: echo a\nrm -rf /\x1b[2J", 80) == "bash: echo a⏎rm -rf /␛[2J"
    assert one_line("x" * 200, 10) == "x" * 9 + "…"


def test_head_tail_counts_and_omitted_note() -> None:
    buf = HeadTail(head_chars=10, tail_chars=10)
    for i in range(1, 1001):
        buf.add(f"{i}\n")
    whole = "".join(f"{i}\n" for i in range(1, 1001))
    assert buf.total_chars == len(whole) and buf.total_newlines == 1000 and buf.total_lines == 1000
    assert buf.head == whole[:10] and buf.tail == whole[-10:]
    clipped = buf.clip()
    assert clipped.omitted_chars == len(whole) - 20
    assert clipped.omitted_lines == 1000 - whole[:10].count("\n") - whole[-10:].count("\n")
    assert clipped.text == whole[:10] + omitted_note(clipped.omitted_lines, clipped.omitted_chars) + "\n" + whole[-10:]
    assert omitted_note(1, 5) == "[… 1 line (5 characters) omitted …]"
    assert omitted_note(2_999_983, 22_888_790) == "[… 2,999,983 lines (22,888,790 characters) omitted …]"


def test_streamed_in_any_chunking_equals_the_whole_string() -> None:
    rng = random.Random(12)
    text = "".join(rng.choice(["ab", "c\n", "\n", "xyz" * 30, "\x1b[1m", "line\r\n"]) for _ in range(5000))
    for head, tail, hl, tl in ((50, 80, None, None), (200, 300, 3, 4), (0, 100, None, 2), (100, 0, 2, None),
                               (10**6, 10**6, 5, 12)):
        whole = clip_text(text, head, tail, hl, tl)
        buf = HeadTail(head, tail)
        i = 0
        while i < len(text):
            n = rng.choice([1, 2, 7, 100, 5000])
            buf.add(text[i:i + n])
            i += n
        assert len(buf.head) <= head and len(buf.tail) <= tail
        assert buf.clip(hl, tl) == whole


def test_line_limits_show_head_and_tail_lines() -> None:
    text = "".join(f"{i}\n" for i in range(1, 101))
    c = clip_text(text, 10_000, 10_000, head_lines=2, tail_lines=3)
    assert c.text == "1\n2\n" + omitted_note(95, len(text) - len("1\n2\n98\n99\n100\n")) + "\n98\n99\n100\n"
    assert (c.omitted_lines, c.total_lines) == (95, 100)
    small = clip_text("a\nb\nc", 10_000, 10_000, head_lines=2, tail_lines=1)
    assert small.text == "a\nb\nc" and small.omitted_chars == 0  # fits: nothing omitted, no note


def test_one_huge_line_keeps_head_and_tail_of_it() -> None:
    buf = HeadTail(100, 200)
    for _ in range(80):
        buf.add("y" * 100_000)
    c = buf.clip(5, 12)
    assert c.text == "y" * 100 + "\n" + omitted_note(0, 8_000_000 - 300) + "\n" + "y" * 200
    assert c.text.count("[…") == 1 and "of one line omitted" in c.text


def test_head_tail_memory_and_time_stay_bounded_for_megabytes() -> None:
    buf = HeadTail(1000, 2000)
    chunk = "0123456789\n" * 6000  # 66 kB
    t = time.perf_counter()
    for _ in range(300):  # ~20 MB
        buf.add(chunk)
        buf.clip(5, 12)
    assert time.perf_counter() - t < 5.0
    assert len(buf.head) == 1000 and len(buf.tail) == 2000 and buf.total_chars == 300 * len(chunk)
