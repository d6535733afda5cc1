"""Which VISA library a bench talks through, and one clear message for each way it can fail.

A bench file's `visa_library` (or `--visa-library`) is `@py` (pyvisa-py, the default), `@ivi`
(the vendor's VISA: NI-VISA, Keysight IO Libraries), the path of a VISA shared library, or
pyvisa-sim: `@sim` for its built-in instruments, `instruments.yaml@sim` for those a YAML file
defines (the form `pyvisa.ResourceManager` itself takes). `VisaLibrary` carries the setting with
where it was made, so that a library that cannot be loaded, and a resource it cannot open,
are reported against the bench file and the field that asked for them.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchtest.values.errors import BenchtestError, ConfigError, ConnectionLostError

DEFAULT_LIBRARY = "@py"
SIM_SUFFIX = "@sim"
IVI_SUFFIX = "@ivi"
SIM_FILE_SUFFIXES = (".yaml", ".yml")
EXPECTED = (
    "expected @py (pyvisa-py), @ivi (NI-VISA, Keysight IO Libraries), the path of a VISA "
    "shared library, @sim or path/to/instruments.yaml@sim (pyvisa-sim)"
)
_INSTALL_HINTS = {  # what pyvisa-py's refusal names -> the extra that installs it
    "pyusb": "pip install 'benchtest[usb]'",
    "gpib": "pip install 'benchtest[gpib]'",
}
_RAISED = re.compile(r"[A-Za-z_][\w.]*(Error|Exception): ")  # the last line of a traceback
_managers: dict[str, Any] = {}  # one open ResourceManager per library setting
_managers_lock = threading.Lock()


class VisaLibraryError(ConfigError):
    """The VISA library a setting names cannot be used; names where the setting was made."""

    def __init__(self, path: str, field: str, problem: str) -> None:
        super().__init__(path, field, problem)
        if not path:  # a command-line option or a Python argument: no file to name
            BenchtestError.__init__(self, f"{field}: {problem}")


@dataclass(frozen=True)
class VisaLibrary:
    """A VISA library setting as PyVISA takes it (relative paths already resolved), and where
    it was made: `path` (the bench file, "" for the command line) and `field`
    (`visa_library`, `instruments.smu.options.visa_library`, `--visa-library`).
    `resource_field` says where the resource opened through it is named
    (`bench.yaml: instruments.smu.resource`), "" when nowhere."""

    setting: str = DEFAULT_LIBRARY
    path: str = ""
    field: str = "visa_library"
    resource_field: str = ""

    def __str__(self) -> str:
        return self.setting

    @property
    def backend(self) -> str:
        """`py`, `ivi` (a shared library path included) or `sim`."""
        if self.setting == DEFAULT_LIBRARY:
            return "py"
        return "sim" if self.setting.endswith(SIM_SUFFIX) else "ivi"

    def describe(self) -> str:
        """The library in words, for messages: "pyvisa-py (@py)"."""
        if self.setting == DEFAULT_LIBRARY:
            return "pyvisa-py (@py)"
        if self.setting == IVI_SUFFIX:
            return "the IVI VISA library (@ivi)"
        if self.backend == "sim":
            file = self.setting.removesuffix(SIM_SUFFIX)
            return f"pyvisa-sim (@sim, {file or 'its built-in instruments'})"
        return f"the VISA library {self.setting.removesuffix(IVI_SUFFIX)}"

    def error(self, problem: str) -> VisaLibraryError:
        return VisaLibraryError(self.path, self.field, problem)


def parse_visa_library(
    text: object,
    *,
    folder: str | os.PathLike[str] | None = None,
    path: str = "",
    field: str = "visa_library",
) -> VisaLibrary:
    """The VisaLibrary a setting names, relative paths resolved against `folder` (the bench
    file's); VisaLibraryError naming `path` and `field` when it names none.

    A pyvisa-sim YAML file and a shared library given as a path must exist; a bare library
    name (`visa64.dll`, `libvisa.so.7`) is left to the system's library search.
    """

    def refuse(problem: str) -> VisaLibraryError:
        return VisaLibraryError(path, field, problem)

    if not isinstance(text, str) or not text.strip():
        raise refuse(f"{text!r} is not a VISA library; {EXPECTED}")
    setting = text.strip()
    base = Path(folder) if folder is not None else Path.cwd()
    if setting in (DEFAULT_LIBRARY, IVI_SUFFIX, SIM_SUFFIX):
        return VisaLibrary(setting, path, field)
    argument, at, backend = setting.rpartition("@")
    if at and backend == "sim":
        if not argument.lower().endswith(SIM_FILE_SUFFIXES):
            raise refuse(f"{setting!r}: a pyvisa-sim instrument file is a .yaml file")
        file = _resolved(argument, base)
        if not file.is_file():
            raise refuse(f"{setting!r}: no pyvisa-sim instrument file {file}")
        return VisaLibrary(f"{file}{SIM_SUFFIX}", path, field)
    if (at and backend != "ivi") or "@" in argument:
        raise refuse(f"unknown VISA library {setting!r}; {EXPECTED}")
    library = argument if at else setting
    if not _is_bare_name(library):
        resolved = _resolved(library, base)
        if not resolved.is_file():
            raise refuse(f"{setting!r}: no VISA shared library at {resolved}")
        library = str(resolved)
    return VisaLibrary(library, path, field)


def as_visa_library(library: VisaLibrary | str | None) -> VisaLibrary:
    """A VisaLibrary for a setting given in Python (`"@ivi"`), or the default for None."""
    if isinstance(library, VisaLibrary):
        return library
    return parse_visa_library(DEFAULT_LIBRARY if library is None else library)


def library_of(visalib: Any) -> VisaLibrary:
    """The setting that names a PyVISA library object (of a resource opened elsewhere)."""
    package = type(visalib).__module__.split(".", 1)[0]
    path = str(getattr(visalib, "library_path", "") or "")
    path = "" if path == "unset" else path  # what pyvisa-py and pyvisa-sim's default say
    if package == "pyvisa_py":
        return VisaLibrary(DEFAULT_LIBRARY)
    if package == "pyvisa_sim":
        return VisaLibrary(f"{path}{SIM_SUFFIX}")
    return VisaLibrary(path or IVI_SUFFIX)


def resource_manager(library: VisaLibrary | str | None = None) -> Any:
    """The open `pyvisa.ResourceManager` of `library`, made once per process and setting (PyVISA
    keeps one per library: closing it closes every resource opened through it).

    Raises VisaLibraryError naming where the setting was made when the library cannot be
    loaded: not installed, no such file, not a VISA library, an unreadable pyvisa-sim file.
    """
    library = as_visa_library(library)
    with _managers_lock:
        manager = _managers.get(library.setting)
        if manager is not None and _is_open(manager):
            return manager
        manager = _open_manager(library)
        _managers[library.setting] = manager
        return manager


def cannot_open(library: VisaLibrary, resource: str, exc: BaseException) -> str:
    """Why `resource` could not be opened through `library`, in one line that names, when
    known, the bench file and field that name the resource, and the library unless it is the
    default one with nothing to install; begins "cannot open <resource>: " as every open
    failure of the transport does."""
    cause = _one_line(exc) or type(exc).__name__
    folded = cause.lower()
    hints = [
        hint for word, hint in _INSTALL_HINTS.items() if word in folded and "install" in folded
    ]
    told = f"{cause}; {hints[0]}" if hints else cause
    context = [library.resource_field] if library.resource_field else []
    if hints or library.setting != DEFAULT_LIBRARY:  # the library is part of the story
        context.append(f"VISA library: {library.describe()}")
    return f"cannot open {resource}: {told}" + (f" [{'; '.join(context)}]" if context else "")


def open_resource(
    library: VisaLibrary, name: str, role: str, *, manager: Any = None, **settings: Any
) -> Any:
    """Open `name` through `library`'s ResourceManager (or `manager`, one of that library)
    with `settings` (PyVISA's keywords).

    Raises VisaLibraryError when the library cannot be loaded, and ConnectionLostError naming
    the role, the library and the bench-file field of the resource when the resource cannot
    be opened: a bus the library has no driver for, a pyvisa-sim resource its file does not
    define, an instrument that does not answer, or one whose protocol fails (a library may
    raise RuntimeError for that rather than a VISA status, as pyvisa-py's HiSLIP client does).
    """
    import pyvisa  # ~40 ms, paid by the first resource opened

    manager = manager or resource_manager(library)
    try:
        if library.backend == "sim":
            _check_simulated(manager, name)
        return manager.open_resource(name, **settings)
    except (pyvisa.Error, OSError, ValueError, LookupError, RuntimeError) as exc:
        raise ConnectionLostError(cannot_open(library, name, exc), role=role) from exc


class _NotSimulated(LookupError):
    """A resource the pyvisa-sim file does not define."""


def _check_simulated(manager: Any, name: str) -> None:
    """pyvisa-sim "opens" any resource it does not define, as a session that never answers:
    refuse one that is not in its file (compared in PyVISA's normal form)."""
    from pyvisa import rname

    defined = manager.list_resources("?*")
    if str(rname.parse_resource_name(name)) not in defined:
        listed = ", ".join(defined) or "none"
        raise _NotSimulated(f"pyvisa-sim defines no such resource; it defines: {listed}")


def _open_manager(library: VisaLibrary) -> Any:
    import pyvisa  # ~40 ms, paid by the first resource opened

    try:
        return pyvisa.ResourceManager(library.setting)
    except Exception as exc:  # every backend fails its own way; each gets one sentence
        raise library.error(_why_not_loaded(library, exc)) from exc


def _why_not_loaded(library: VisaLibrary, exc: Exception) -> str:
    cause = _one_line(exc)
    if library.backend == "sim":
        if "No package named pyvisa_sim" in cause:
            return "pyvisa-sim is not installed: pip install 'benchtest[pyvisa-sim]'"
        file = library.setting.removesuffix(SIM_SUFFIX)
        return f"pyvisa-sim cannot read {file}: {cause}"
    if library.setting == IVI_SUFFIX:
        found = f" ({cause})" if cause and not cause.endswith(":") else ""
        return (
            "no IVI VISA library is installed (NI-VISA or Keysight IO Libraries)"
            f"{found}; install one, or use @py (pyvisa-py)"
        )
    if library.backend == "ivi":
        if isinstance(exc, AttributeError):  # loaded, but without the VISA functions
            return f"{library.setting} is not a VISA library ({cause})"
        return f"cannot load the VISA library {library.setting}: {cause}"
    return f"cannot load {library.describe()}: {type(exc).__name__}: {cause}"


def _is_open(manager: Any) -> bool:
    try:
        manager.session  # noqa: B018 - raises InvalidSession once the manager was closed
    except Exception:
        return False
    return True


def _resolved(text: str, base: Path) -> Path:
    path = Path(text).expanduser()
    return path if path.is_absolute() else (base / path).resolve()


def _is_bare_name(text: str) -> bool:
    """A library name for the system's search (`visa64.dll`), not a path to a file."""
    return not any(sep in text for sep in ("/", "\\")) and not text.startswith("~")


def _one_line(exc: BaseException) -> str:
    """An exception's text on one line. Of a traceback in the text (pyvisa-sim wraps one,
    escaped, in its own message) only what the last exception said."""
    text = str(exc)
    if "Traceback" in text:
        for _ in range(3):  # a repr of a repr: unescape line breaks and quotes
            text = text.replace("\\\\", "\\").replace("\\n", "\n").replace("\\'", "'")
    lines = [line.strip() for line in text.splitlines() if line.strip(" '\"")]
    raised = [index for index, line in enumerate(lines) if _RAISED.match(line)]
    if "Traceback" in text and raised:
        lines = lines[raised[-1] :]
    return " ".join(lines)
