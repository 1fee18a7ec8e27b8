from __future__ import annotations

import pytest

from dc_deploy import loop_block as lb


@pytest.mark.parametrize("original", [b"", b"x = 1\n", b"x = 1", b"a\n\n\n"])
def test_add_then_remove_restores_exact_bytes(original: bytes) -> None:
    added = lb.add_block(original)
    assert added == original + b"\n" + lb.BLOCK
    assert lb.has_block(added)
    assert lb.add_block(added) == added  # idempotent
    assert lb.remove_block(added) == original


def test_block_text_is_the_contract() -> None:
    text = lb.BLOCK.decode()
    assert text.startswith("# >>> claude-dc-streaming loop hook (managed by integrate_streaming.py; do not edit) >>>\n")
    assert "    from .dc_impl import hook as _dc_streaming_hook\n    _dc_streaming_hook.install(globals())\n" in text
    assert text.endswith("# <<< claude-dc-streaming loop hook <<<\n")
    compile(text, "loop.py", "exec")


def test_altered_block_is_replaced_in_place() -> None:
    original = b"import os\n"
    damaged = lb.add_block(original).replace(b"install(globals())", b"install({})")
    fixed = lb.add_block(damaged)
    assert fixed == lb.add_block(original)
    assert lb.remove_block(fixed) == original


def test_half_block_is_an_error() -> None:
    with pytest.raises(lb.BlockError, match="end marker"):
        lb.add_block(b"x\n" + lb.BEGIN)
    with pytest.raises(lb.BlockError, match="begin marker"):
        lb.remove_block(b"x\n" + lb.END)
