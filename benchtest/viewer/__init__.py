"""The desktop result viewer (`benchtest view`): browse runs, compare units, look at waveforms.

The modules that need Qt (`plots`, `table`, `window`, `app`) are imported only by `benchtest
view`; the rest (finding and following runs, envelopes of long waveforms, measurement rows,
CSV) needs only numpy and h5py. `missing()` says which of the viewer's packages are not
installed, without importing them; `display_problem()` why Qt would find no screen.
"""

from __future__ import annotations

import importlib.util
import os
import sys

#: The packages the `viewer` extra installs (import names).
PACKAGES = ("pyqtgraph", "PySide6")
#: The one line `benchtest view` prints when they are missing.
INSTALL_HINT = "benchtest view needs the viewer extra: pip install 'benchtest[viewer]'"


def missing() -> list[str]:
    """The viewer's packages that are not installed."""
    return [name for name in PACKAGES if importlib.util.find_spec(name) is None]


def display_problem() -> str:
    """Why the viewer could not open a window here ("" when it can): on Linux and the BSDs Qt
    needs an X11 or Wayland display, or a platform chosen with QT_QPA_PLATFORM (`offscreen`
    draws without a screen, for `--screenshot`). Without one, Qt would abort the process."""
    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return ""
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"):
        return ""
    return (
        "benchtest view needs a display (DISPLAY or WAYLAND_DISPLAY is not set); "
        "without one, QT_QPA_PLATFORM=offscreen with --screenshot saves the window"
    )
