"""The UI hook's managed block in streamlit.py: where it goes, idempotence, byte-exact removal."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from dc_deploy import ui_block as ub

REPO = Path(__file__).resolve().parents[2]
STAND_IN = (REPO / "examples" / "computer_use_demo" / "streamlit.py").read_bytes()
UPSTREAM_SHAPE = b'"""\nEntrypoint for streamlit, see https://docs.streamlit.io/\n"""\n\nimport asyncio\nimport os\n\n' \
                 b'import streamlit as st\n\n\nasync def main():\n    st.title("x")\n\n\n' \
                 b'if __name__ == "__main__":\n    asyncio.run(main())\n'

# name -> (original, the bytes that must stay in front of the block)
SHAPES: dict[str, tuple[bytes, bytes]] = {
    "stand-in (docstring + __future__)": (STAND_IN, STAND_IN[:STAND_IN.index(b"from __future__ import annotations\n")
                                                            + len(b"from __future__ import annotations\n")]),
    "upstream (docstring, no __future__)": (UPSTREAM_SHAPE, b'"""\nEntrypoint for streamlit, see https://docs.streamlit.io/\n"""\n'),
    "no docstring, no __future__": (b"import os\nprint(os.sep)\n", b""),
    "__future__ only": (b"from __future__ import annotations\nimport os\n", b"from __future__ import annotations\n"),
    "two __future__ imports, one wrapped": (
        b'"""d"""\nfrom __future__ import annotations\nfrom __future__ import (\n    generator_stop,\n)\nx = 1\n',
        b'"""d"""\nfrom __future__ import annotations\nfrom __future__ import (\n    generator_stop,\n)\n'),
    "comment after the __future__ import": (b"from __future__ import annotations  # keep\nx = 1\n",
                                             b"from __future__ import annotations  # keep\n"),
    "shebang": (b"#!/usr/bin/env python3\nimport os\n", b"#!/usr/bin/env python3\n"),
    "shebang + coding": (b"#!/usr/bin/env python3\n# -*- coding: latin-1 -*-\nx = '\xe9'\n",
                         b"#!/usr/bin/env python3\n# -*- coding: latin-1 -*-\n"),
    "coding + docstring": (b"# vim: set fileencoding=utf-8 :\n'''doc'''\nx = 1\n", b"# vim: set fileencoding=utf-8 :\n'''doc'''\n"),
    "CRLF": (b'"""doc\r\nmore"""\r\nfrom __future__ import annotations\r\n\r\nimport os\r\n',
             b'"""doc\r\nmore"""\r\nfrom __future__ import annotations\r\n'),
    "CR only": (b'"""doc"""\rimport os\r', b'"""doc"""\r'),
    "UTF-8 BOM, no docstring": (b"\xef\xbb\xbfimport os\n", b"\xef\xbb\xbf"),
    "UTF-8 BOM + docstring": (b'\xef\xbb\xbf"""d"""\nimport os\n', b'\xef\xbb\xbf"""d"""\n'),
    "no trailing newline": (b'"""only a docstring"""', b'"""only a docstring"""'),
    "empty file": (b"", b""),
    "docstring then statement on its line": (b'"""d"""; import os\nx = 1\n', b'"""d"""; import os\n'),
}


def _newline(original: bytes) -> bytes:
    return b"\r\n" if b"\r\n" in original else b"\r" if b"\r" in original else b"\n"


@pytest.mark.parametrize("name", list(SHAPES))
def test_block_goes_after_the_header_and_comes_out_byte_for_byte(name: str) -> None:
    original, head = SHAPES[name]
    added = ub.add_block(original)
    nl = _newline(original)
    block = ub.render(nl)
    assert added.count(ub.BEGIN_TEXT) == 1 and added.count(block) == 1
    at = added.index(block)
    sep = b"" if at in (0, 3) and added[:at] in (b"", b"\xef\xbb\xbf") else nl
    assert added[:at] == head + sep, "the block must follow the docstring / __future__ imports / shebang and coding"
    assert added[:len(head)] + added[at + len(block):] == original, "nothing else in the file changes"
    assert ub.has_block(added)
    assert ub.add_block(added) == added, "idempotent"
    assert ub.remove_block(added) == original, "removal gives the original bytes back"
    compile(added, name, "exec")  # still valid Python: __future__ imports still come first
    if original.strip():
        assert ast.get_docstring(ast.parse(added)) == ast.get_docstring(ast.parse(original))


def test_block_text_is_the_contract() -> None:
    text = ub.BLOCK.decode()
    assert text.startswith("# >>> claude-dc-streaming ui hook (managed by integrate_streaming.py; do not edit) >>>\n")
    assert text.endswith("# <<< claude-dc-streaming ui hook <<<\n")
    assert ".dc_impl.ui_hook" in text and "_dc_ui_hook.serve()" in text
    compile(text, "streamlit.py", "exec")
    tree = ast.parse(text)
    serve_call = tree.body[-1]
    assert isinstance(serve_call, ast.If), "serve() runs outside the try/except Exception (st.stop must propagate)"


def test_altered_block_is_replaced_in_place() -> None:
    added = ub.add_block(UPSTREAM_SHAPE)
    damaged = added.replace(b"_dc_ui_hook.serve()", b"pass  # _dc_ui_hook.serve()")
    assert damaged != added and ub.has_block(damaged)
    fixed = ub.add_block(damaged)
    assert fixed == added
    assert ub.remove_block(fixed) == UPSTREAM_SHAPE


def test_block_moved_by_hand_is_kept_where_it_is() -> None:
    moved = UPSTREAM_SHAPE + b"\n" + ub.BLOCK
    assert ub.add_block(moved) == moved
    assert ub.remove_block(moved) == UPSTREAM_SHAPE


def test_crlf_block_is_recognised_and_removed() -> None:
    original = SHAPES["CRLF"][0]
    added = ub.add_block(original)
    assert ub.render(b"\r\n") in added and b"\r\n" + ub.render(b"\r\n") in added
    assert b"\n" not in added.replace(b"\r\n", b"")


def test_half_block_is_an_error() -> None:
    with pytest.raises(ub.BlockError, match="end marker"):
        ub.add_block(b"x = 1\n" + ub.BEGIN_TEXT + b"\n")
    with pytest.raises(ub.BlockError, match="begin marker"):
        ub.remove_block(b"x = 1\n" + ub.END_TEXT + b"\n")
    with pytest.raises(ub.BlockError, match="line of its own"):
        ub.has_block(b"x = 1  " + ub.BEGIN_TEXT + b"\n")


def test_unparsable_file_is_refused() -> None:
    with pytest.raises(ub.BlockError, match="does not parse"):
        ub.add_block(b"def broken(:\n")


def _deploy_like(tmp_path: Path, source: bytes, with_impl: bool) -> Path:
    pkg = tmp_path / "computer_use_demo"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    if with_impl:
        (pkg / "dc_impl").mkdir()
        (pkg / "dc_impl" / "__init__.py").write_text("")
        (pkg / "dc_impl" / "ui_hook.py").write_text("raise RuntimeError('UI HOOK IMPORTED')\n")
    (pkg / "streamlit.py").write_bytes(ub.add_block(source))
    return pkg


@pytest.mark.parametrize("with_impl", [True, False])
def test_plain_python_run_and_import_do_nothing(tmp_path: Path, with_impl: bool) -> None:
    """Not a Streamlit page run: the block neither imports our hook nor logs anything."""
    pkg = _deploy_like(tmp_path, b'"""doc"""\nfrom __future__ import annotations\nprint("UPSTREAM-RAN", __name__)\n',
                       with_impl)
    run = subprocess.run([sys.executable, "streamlit.py"], cwd=pkg, capture_output=True, text=True, timeout=60)
    assert (run.returncode, run.stdout, run.stderr) == (0, "UPSTREAM-RAN __main__\n", "")
    imp = subprocess.run([sys.executable, "-c", "import computer_use_demo.streamlit"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert (imp.returncode, imp.stdout, imp.stderr) == (0, "UPSTREAM-RAN computer_use_demo.streamlit\n", "")


def test_failing_hook_import_leaves_upstream_running_with_one_warning(tmp_path: Path) -> None:
    """streamlit loaded and the file run as __main__ twice (two page runs): one warning, upstream runs both times."""
    _deploy_like(tmp_path, b'"""doc"""\nprint("UPSTREAM-RAN")\n', with_impl=True)
    code = ("import runpy, sys; sys.modules['streamlit'] = type(sys)('streamlit')\n"
            "for _ in range(2):\n    runpy.run_path('computer_use_demo/streamlit.py', run_name='__main__')\n")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == "UPSTREAM-RAN\nUPSTREAM-RAN\n"
    assert run.stderr.count("claude-dc-streaming UI hook not active") == 1
    assert "UI HOOK IMPORTED" in run.stderr


def _shape(source: bytes) -> dict[str, object]:
    """The structural facts the UI hook relies on (as upstream's real streamlit.py has them)."""
    tree = ast.parse(source)
    body = list(tree.body)
    doc = isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
        and isinstance(body[0].value.value, str)
    rest = body[1:]
    while rest and isinstance(rest[0], ast.ImportFrom) and rest[0].module == "__future__":
        rest = rest[1:]
    n_imports = next(i for i, node in enumerate(rest) if not isinstance(node, ast.Import | ast.ImportFrom))
    absolute = {node.module for node in rest[:n_imports] if isinstance(node, ast.ImportFrom) and node.level == 0}
    last = body[-1]
    entry = isinstance(last, ast.If) and ast.unparse(last.test) in ("__name__ == '__main__'", '__name__ == "__main__"')
    mains = [n for n in body if isinstance(n, ast.AsyncFunctionDef) and n.name == "main"]
    return {"docstring first": doc, "imports right after the header": n_imports > 0,
            "imports computer_use_demo.loop absolutely": "computer_use_demo.loop" in absolute,
            "imports streamlit at module level": any(isinstance(n, ast.Import) and n.names[0].name == "streamlit"
                                                     for n in rest[:n_imports]),
            "async def main()": len(mains) == 1,
            "ends with the __main__ entry running main()": entry and "asyncio.run(main())" in ast.unparse(last)}


def test_stand_in_keeps_upstreams_shape() -> None:
    """Upstream's real streamlit.py (anthropic-quickstarts, computer-use-demo): a docstring, its imports (streamlit,
    then ``computer_use_demo.loop`` absolutely), ``async def main()`` and ``if __name__ == "__main__":
    asyncio.run(main())`` as its last statement. The stand-in, and its upstream-shaped variant the tests deploy,
    must keep every one of those facts for the tests on it to say something about upstream's file."""
    for source in (STAND_IN, UPSTREAM_SHAPE.replace(b"import streamlit as st\n",
                                                   b"import streamlit as st\nfrom computer_use_demo.loop import x\n")):
        shape = _shape(source)
        assert all(shape.values()), {k: v for k, v in shape.items() if not v}
    assert b"from __future__ import annotations\n" in STAND_IN  # the stand-in's header differs from upstream's ...
    placed = ub.add_block(STAND_IN.replace(b"from __future__ import annotations\n\n", b""))
    assert placed.index(ub.BEGIN_TEXT) < placed.index(b"import asyncio")  # ... and the block still leads the imports
