"""Starting the viewer: the Qt application, the main window, and the event loop."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from PySide6 import QtWidgets

from benchtest.viewer.csvfile import ExportError
from benchtest.viewer.window import ViewerWindow


def application() -> QtWidgets.QApplication:
    """The running QApplication, made if there is none."""
    app = QtWidgets.QApplication.instance()
    if isinstance(app, QtWidgets.QApplication):
        return app
    return QtWidgets.QApplication(sys.argv[:1])


def window(
    paths: Sequence[str | os.PathLike[str]], baseline: str | os.PathLike[str] | None = None
) -> ViewerWindow:
    """A viewer window with `paths` open (and `baseline` to compare with), shown."""
    application()
    viewer = ViewerWindow()
    viewer.resize(1400, 850)
    if baseline is not None:
        viewer.set_baseline(baseline)
    viewer.open_paths(paths)
    viewer.show()
    return viewer


def run(
    paths: Sequence[str | os.PathLike[str]],
    baseline: str | os.PathLike[str] | None = None,
    screenshot: str | os.PathLike[str] | None = None,
) -> int:
    """Show the viewer until its window is closed; the exit status. With `screenshot`, save
    the window as that PNG once it has opened everything, and end (for scripts and CI)."""
    app = application()
    viewer = window(paths, baseline)
    if screenshot is not None:
        app.processEvents()
        saved = viewer.grab().save(str(screenshot), "PNG")
        close(viewer)
        if not saved:
            raise ExportError(f"{screenshot}: cannot write the screenshot")
        return 0
    code = app.exec()
    close(viewer)
    return int(code)


def close(viewer: ViewerWindow) -> None:
    """Close `viewer` and let Qt delete it now, while the application still runs (deleting
    Qt objects at interpreter exit, after the application, can crash the interpreter)."""
    viewer.close()
    viewer.deleteLater()
    application().processEvents()
