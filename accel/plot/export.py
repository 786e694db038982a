"""Write plotly figures as HTML (self-contained) and PNG (kaleido 1.x + a Chromium/Chrome browser).

PNG export needs a Chromium-based browser; kaleido finds ``chromium`` on PATH or the one
named by the ``BROWSER_PATH`` environment variable (e.g. ``BROWSER_PATH=/usr/bin/chromium``
after ``apt-get install -y chromium``). Running as root works without extra flags
(kaleido's browser driver, choreographer, passes ``--no-sandbox`` by default).
"""

from __future__ import annotations

import atexit
import os
import shutil
import warnings
from pathlib import Path

from accel.errors import AccelError
from accel.plot.inputs import check_output_paths

#: default PNG size (px) and the scale factor (2 = sharp on hi-dpi screens)
PNG_WIDTH, PNG_HEIGHT, PNG_SCALE = 1100, 650, 2


class ExportError(AccelError):
    """A figure could not be written (e.g. no browser for PNG export)."""


def browser_path() -> str | None:
    """The Chromium/Chrome kaleido will use (BROWSER_PATH, else chromium/chrome on PATH), or None."""
    env = os.environ.get("BROWSER_PATH")
    if env:
        return env if Path(env).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


_SERVER_STARTED = False


def _start_kaleido_server() -> None:
    """Keep one headless browser for all PNG exports of this process (kaleido >= 1.1), ~20x faster
    than starting Chromium per figure; stopped at exit."""
    global _SERVER_STARTED
    if _SERVER_STARTED:
        return
    _SERVER_STARTED = True
    try:
        import kaleido

        if hasattr(kaleido, "start_sync_server"):
            kaleido.start_sync_server(silence_warnings=True)
            atexit.register(kaleido.stop_sync_server, silence_warnings=True)
    except Exception:  # noqa: BLE001 - fall back to one browser per export
        pass


def png_available() -> bool:
    """True if kaleido is importable and a browser for it exists."""
    try:
        import kaleido  # noqa: F401
    except ImportError:
        return False
    return browser_path() is not None


def save_figure(fig, out: str | Path, html: bool = True, png: bool = True, width: int | None = None,
                height: int | None = None, scale: float = PNG_SCALE, plotlyjs: str | bool = True) -> list[Path]:
    """Write ``fig`` to ``<out>.html`` and/or ``<out>.png`` (a ``.html``/``.png`` suffix on ``out`` is dropped).

    ``plotlyjs=True`` embeds plotly.js (works offline, ~4 MB); ``"cdn"`` links it instead.
    Returns the written paths. Raises ExportError naming the fix if PNG export is impossible, and
    ConfigError if an output exists but is not a regular file (directory, FIFO, device) or a
    folder on the way is a file; missing folders are created.
    """
    out = Path(out)
    if out.suffix.lower() in (".html", ".png"):
        out = out.with_suffix("")
    targets = ([out.with_name(out.name + ".html")] if html else []) + ([out.with_name(out.name + ".png")] if png else [])
    check_output_paths(targets)  # no directory, FIFO or device as output; no file as a folder
    out.parent.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    w = width or int(fig.layout.width or PNG_WIDTH)
    h = height or int(fig.layout.height or PNG_HEIGHT)
    if html:
        p = out.with_name(out.name + ".html")
        fig.write_html(p, include_plotlyjs=plotlyjs, full_html=True)
        written.append(p)
    if png:
        p = out.with_name(out.name + ".png")
        if browser_path() is None:
            raise ExportError(
                f"{p}: PNG export needs Chromium or Chrome for kaleido: install it (Debian/Ubuntu: "
                "`apt-get install -y chromium`) or set BROWSER_PATH to the browser executable"
                + ("; the HTML was written" if html else ""))
        _start_kaleido_server()
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "kopts ignored if using a server"
                fig.write_image(p, width=w, height=h, scale=scale)
        except Exception as exc:  # kaleido raises assorted errors when the browser fails
            raise ExportError(f"{p}: PNG export failed ({type(exc).__name__}: {exc}); "
                              f"browser {browser_path()!r}; set BROWSER_PATH to a working Chromium") from None
        written.append(p)
    return written
