"""The layers of benchtest: imports only go down, and no modules import each other in a circle.

docs/architecture.md draws the same layers. Every import counts, also those under
`TYPE_CHECKING` and inside functions: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Bottom to top. A module may import its own layer and the layers below it; layers that share
# a line are siblings and import neither each other nor anything beside them.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("benchtest.__about__",),
    ("benchtest.values",),
    ("benchtest.driver",),
    ("benchtest.config",),
    ("instruments",),
    ("benchtest.analysis",),
    ("benchtest.runfile",),
    ("benchtest.storage", "benchtest.results"),
    ("benchtest.sim.server",),
    ("benchtest.sim.models",),
    ("benchtest.sim.simulators",),
    ("benchtest.sim",),
    ("benchtest.run",),
    ("benchtest.review", "benchtest.export"),
    ("benchtest.report",),
    ("benchtest.viewer",),
    ("benchtest.plugin",),
    ("benchtest.cli",),
)
# The public face re-exports from every layer; it is imported by users, never by benchtest.
FACE = "benchtest"
# The registry finds drivers through entry points; it imports `instruments` only to make sure
# the package is ours and not InstrumentKit's.
ALLOWED_UP = {("benchtest.driver.registry", "instruments")}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    files = [*(ROOT / "benchtest").rglob("*.py"), *(ROOT / "instruments").rglob("*.py")]
    return {module_name(p): p for p in files}


MODULES = all_modules()


def imports_of(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """(imported module, line) for each project import in `path`, resolved to a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            # `from package import module` imports the module; anything else the package.
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            if target.split(".")[0] in ("benchtest", "instruments"):
                yield target, node.lineno


def layer_of(module: str) -> int | None:
    """The rank of the longest layer prefix of `module`; None for the public face."""
    best: tuple[int, int] | None = None
    for rank, names in enumerate(LAYERS):
        for prefix in names:
            if (module == prefix or module.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[1]
            ):
                best = (rank, len(prefix))
    return None if best is None else best[0]


def package_of(module: str) -> str:
    """The layer name `module` belongs to (longest prefix)."""
    names = [p for line in LAYERS for p in line if module == p or module.startswith(p + ".")]
    return max(names, key=len)


def upward_imports() -> list[str]:
    found = []
    for name, path in sorted(MODULES.items()):
        if name == FACE:
            continue
        here = layer_of(name)
        assert here is not None, f"{name} belongs to no layer: add its package to LAYERS"
        for target, line in imports_of(name, path):
            there = layer_of(target)
            if target == FACE:
                found.append(f"{path.relative_to(ROOT)}:{line}: imports the public face")
            elif there is None or (name, target) in ALLOWED_UP:
                continue
            elif there > here:
                found.append(
                    f"{path.relative_to(ROOT)}:{line}: {name} imports {target}, a layer up"
                )
            elif there == here and package_of(target) != package_of(name):
                found.append(
                    f"{path.relative_to(ROOT)}:{line}: {name} imports its sibling layer {target}"
                )
    return found


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def module_graph() -> dict[str, set[str]]:
    return {
        name: {t for t, _ in imports_of(name, path) if t in MODULES and t != name}
        for name, path in MODULES.items()
    }


def test_imports_only_go_down_a_layer() -> None:
    assert upward_imports() == []


def test_no_import_cycles_between_modules() -> None:
    assert import_cycles(module_graph()) == []


def test_benchtest_has_no_loose_modules_besides_its_face_and_version() -> None:
    loose = sorted(p.name for p in (ROOT / "benchtest").glob("*.py"))
    assert loose == ["__about__.py", "__init__.py"]


def test_every_module_opens_with_a_docstring() -> None:
    missing = [
        name
        for name, path in sorted(MODULES.items())
        if not ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
    ]
    assert missing == []


def test_architecture_doc_names_every_package() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    packages = sorted(
        module_name(p.parent)
        for p in (ROOT / "benchtest").rglob("__init__.py")
        if p.parent.name != "schemas"
    )
    within = [p.removeprefix("benchtest.").replace(".", "/") for p in packages if p != FACE]
    absent = [p for p in within if f"{p}/`" not in doc]
    assert absent == []


# The checks themselves must be able to fail.


def test_an_upward_import_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "benchtest" / "values" / "bad.py"
    fake.parent.mkdir(parents=True)
    fake.write_text('"""x"""\nfrom benchtest.storage.hdf5_writer import Hdf5RunWriter\n')
    monkeypatch.setitem(MODULES, "benchtest.values.bad", fake)
    monkeypatch.setattr(f"{__name__}.ROOT", tmp_path)
    found = upward_imports()
    assert found == [
        "benchtest/values/bad.py:2: benchtest.values.bad imports "
        "benchtest.storage.hdf5_writer, a layer up"
    ]


def test_a_sibling_import_is_found() -> None:
    assert layer_of("benchtest.storage.merge") == layer_of("benchtest.results.run")
    assert package_of("benchtest.storage.merge") != package_of("benchtest.results.run")


def test_a_cycle_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert import_cycles(graph) == [["a", "b", "c"]]
