"""Claude DC Streamlit app with live streaming: ``streamlit run <target>/dc_impl/streamlit_app.py``.

``streamlit run`` executes this file as a script (``__main__``, no package), so relative imports
cannot work here. The bootstrap finds the package this file belongs to and imports the real page
(``frontends/streamlit/app.py``) through it:

* deployed as ``<host>/dc_impl/streamlit_app.py`` where ``<host>`` is a package (has
  ``__init__.py``, e.g. ``computer_use_demo``): the directory above ``<host>`` goes on ``sys.path``
  and the page is ``computer_use_demo.dc_impl.frontends.streamlit.app`` (the host's ``loop`` and
  ``tools`` are ``computer_use_demo.loop`` and ``computer_use_demo.tools``);
* in this project's checkout, ``dc_impl`` is a top-level package: its parent directory goes on
  ``sys.path`` and the page is ``dc_impl.frontends.streamlit.app`` (the host tree is named by ``DC_UI_HOST_PACKAGE``,
  default ``computer_use_demo``, which must then be importable).

Imported as a module (``import dc_impl.streamlit_app``), it only offers ``resolve_package``.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

PAGE_MODULE = "frontends.streamlit.app"


def resolve_package(here: Path) -> tuple[Path, str]:
    """``(directory to put on sys.path, dotted name of the dc_impl package)`` for this file's tree."""
    pkg_dir = here.resolve().parent
    parent = pkg_dir.parent
    if (parent / "__init__.py").is_file():
        return parent.parent, f"{parent.name}.{pkg_dir.name}"
    return parent, pkg_dir.name


def bootstrap(here: Path) -> str:
    """Make the package importable; return the dotted name of the page module."""
    root, package = resolve_package(here)
    root_s = str(root)
    if root_s not in sys.path:
        sys.path.insert(0, root_s)
    return f"{package}.{PAGE_MODULE}"


if __name__ == "__main__":
    importlib.import_module(bootstrap(Path(__file__))).main()
