"""Pages opened in a real headless browser (Chromium), for tests that check what a report shows.

`Browser.open(html, name)` loads a page the way a reader's browser does, scripts and styles
included, and returns what it showed: the DOM after the scripts ran, its visible text, and a
screenshot. Screenshots are kept in the test output folder (`test-output/screenshots/` in the
project, or `$BENCHTEST_TEST_OUTPUT/screenshots/`), where CI keeps them as artifacts.
"""

from __future__ import annotations

import html.parser
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "chrome")


def find_chromium() -> str | None:
    """The Chromium executable on PATH, or None."""
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def output_folder() -> Path:
    """Where screenshots go: kept after the run, for a reader or a CI artifact."""
    root = os.environ.get("BENCHTEST_TEST_OUTPUT")
    folder = (Path(root) if root else REPO / "test-output") / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class _VisibleText(html.parser.HTMLParser):
    """The text a reader sees: everything outside <script>, <style> and <head>."""

    HIDDEN = frozenset({"script", "style", "head", "title"})

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self.HIDDEN:
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self.HIDDEN and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden and data.strip():
            self.parts.append(" ".join(data.split()))


@dataclass(frozen=True)
class Page:
    """What the browser showed for one HTML file."""

    dom: str  # the document after its scripts ran
    screenshot: Path  # PNG of the page as rendered

    @property
    def text(self) -> str:
        """The visible text, whitespace collapsed, one space between text nodes."""
        parser = _VisibleText()
        parser.feed(self.dom)
        return " ".join(parser.parts)


class Browser:
    """Headless Chromium, started once per page (a page is a file: no server, no network)."""

    def __init__(self, executable: str, profile: Path) -> None:
        self.executable = executable
        self.profile = profile

    def _run(self, html: Path, *options: str, timeout: float = 120.0) -> str:
        command = [
            self.executable,
            "--headless",
            "--no-sandbox",  # CI runs as root, where Chromium's sandbox refuses to start
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--disable-extensions",
            "--disable-background-networking",
            f"--user-data-dir={self.profile}",
            "--virtual-time-budget=5000",  # let the page's scripts finish before capture
            *options,
            html.resolve().as_uri(),
        ]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"chromium failed on {html} ({done.returncode}): {done.stderr[-2000:]}"
            )
        return done.stdout

    def open(self, html: Path, name: str, width: int = 1280, height: int = 2400) -> Page:
        """Load `html`; save its screenshot as `name`.png in the test output folder."""
        shot = output_folder() / f"{name}.png"
        shot.unlink(missing_ok=True)
        # one load does both: the DOM is the one the screenshot shows
        dom = self._run(
            html, f"--screenshot={shot}", f"--window-size={width},{height}", "--dump-dom"
        )
        if not shot.is_file() or shot.stat().st_size == 0:
            raise RuntimeError(f"chromium wrote no screenshot of {html}")
        if "<html" not in dom:
            raise RuntimeError(f"chromium dumped no DOM of {html}")
        return Page(dom=dom, screenshot=shot)
