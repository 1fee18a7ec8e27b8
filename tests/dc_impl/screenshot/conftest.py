"""A private Xvfb per test module (``xdisplay``) and the Tk application under test (``xapp``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dc_verify.checks.xdisplay import PrivateX, XApp, missing_parts


@pytest.fixture(scope="module")
def xdisplay() -> Iterator[PrivateX]:
    reason = missing_parts()
    if reason:
        pytest.skip(reason)
    try:
        import mss  # noqa: F401
        import PIL  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"{exc.name} is not installed (pip install '.[screenshot]')")
    with PrivateX() as x:
        yield x


@pytest.fixture
def xenv(xdisplay: PrivateX, monkeypatch: pytest.MonkeyPatch) -> str:
    """The tool's environment for the private display, as upstream's image sets it."""
    for key, value in xdisplay.env().items():
        monkeypatch.setenv(key, value)
    return xdisplay.display


@pytest.fixture
def xapp(xenv: str, xdisplay: PrivateX) -> Iterator[object]:
    started: list[XApp] = []

    def start(*args: str) -> XApp:
        app = xdisplay.app(*args)
        started.append(app)
        return app

    yield start
    for app in started:
        app.stop()
