"""Dependencies point one way: no import cycle, no import of a higher layer.

Every module of ``tailor/``, ``ml/``, ``expectations/`` and ``dags/`` is read with ``ast``
(nothing is imported): imports at module level and inside functions count alike, relative
imports are resolved. A package's modules count one by one; a module importing the
``__init__`` of its own package (or of a package above it) is not an edge.

A package whose ``__init__`` loads its names lazily from a map (``_WHERE`` or ``_EXPORTS``:
name -> submodule, read with ``importlib`` on first use) is seen through: ``from ml.recommend
import run`` is an edge to the submodule that defines ``run``.

The layers, lowest first (a module belongs to the longest prefix listed; the root package
``tailor`` itself is low, its modules are placed one by one):

0. low modules that anything may use: settings, configuration, quoting, the warehouse
   connection, consent, who is erased, the run log, a run's working copy on disk, ...
1. the stages of the night: a stage may use another stage if that makes no cycle
2. ``tailor.pipeline``: one night, stage by stage, on a working copy
3. ``tailor.orchestration``: what the Airflow tasks call
4. ``tailor.cli`` and ``dags``: the entry points
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.unit

ROOTS = ("tailor", "ml", "expectations", "dags")
LAYERS: dict[int, tuple[str, ...]] = {
    0: (
        "tailor.settings",
        "tailor.config",
        "tailor.sources",
        "tailor.sqlsafe",
        "tailor.csvsafe",
        "tailor.faults",
        "tailor.warehouse",
        "tailor.consent",
        "tailor.erased",
        "tailor.runlog",
        "tailor.runs",
        "tailor.descriptions",
        "tailor.quiet",
        "tailor.incidents",
        "tailor.files",
    ),
    1: (
        "tailor.ingest",
        "tailor.transform",
        "expectations",
        "ml",
        "tailor.exports",
        "tailor.privacy",
        "tailor.anomalies",
        "tailor.publish",
        "tailor.report",
        "tailor.synthetic",
        "tailor.adapters",
        "tailor.check",
        "tailor.shared_devices",
        "tailor.engines",
        "tailor.warehouse_io",
    ),
    2: ("tailor.pipeline", "tailor.backfill"),
    3: ("tailor.orchestration",),
    4: ("tailor.cli", "dags"),
}


def find_modules(root: Path) -> dict[str, Path]:
    """Module name -> file, for every ``.py`` file under the project's packages."""
    out = {}
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join(parts)] = path
    return out


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The module ``name`` is, or the module it is an attribute of."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


LAZY_MAPS = ("_WHERE", "_EXPORTS")


def lazy_map(path: Path) -> dict[str, str]:
    """A package ``__init__``'s map of lazily loaded names to their submodules."""
    for node in ast.parse(path.read_text(), str(path)).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id in LAZY_MAPS and node.value is not None:
            return ast.literal_eval(node.value)
    return {}


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The project modules ``name`` imports, anywhere in the file."""
    is_package = path.name == "__init__.py"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_package else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            # `from pkg import mod` imports the module pkg.mod; `from mod import f`, mod
            targets = [f"{module}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.split(".")[0] not in ROOTS:
                continue
            known = _known(target, modules)
            if known and modules[known].name == "__init__.py":
                attribute = target[len(known) + 1 :].split(".")[0]
                submodule = lazy_map(modules[known]).get(attribute)
                if submodule and f"{known}.{submodule}" in modules:
                    known = f"{known}.{submodule}"
            # a module may use its own package's (or an enclosing package's) __init__
            if known and known != name and not name.startswith(known + "."):
                found.add(known)
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = find_modules(root)
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each listed
    along one of its cycles' order of discovery."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer_of(name: str) -> int | None:
    if name == "tailor":
        return 0
    best: tuple[int, int] | None = None  # (prefix length, layer)
    for layer, prefixes in LAYERS.items():
        for prefix in prefixes:
            if (name == prefix or name.startswith(prefix + ".")) and (
                best is None or len(prefix) > best[0]
            ):
                best = (len(prefix), layer)
    return best[1] if best else None


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return [
        f"{a} (layer {layer_of(a)}) imports {b} (layer {layer_of(b)})"
        for a, targets in sorted(graph.items())
        for b in sorted(targets)
        if layer_of(b) > layer_of(a)
    ]


def test_every_module_has_a_layer():
    unplaced = [m for m in find_modules(REPO) if layer_of(m) is None]
    assert not unplaced, f"add these modules to LAYERS in {Path(__file__).name}: {unplaced}"


def test_no_import_cycle():
    found = cycles(import_graph(REPO))
    assert not found, "import cycles (module -> ... -> module):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


def test_imports_point_down():
    graph = import_graph(REPO)
    up = upward_imports(graph)
    assert not up, "imports of a higher layer:\n" + "\n".join(up)


def test_every_package_says_what_it_owns():
    silent = [
        str(path.relative_to(REPO))
        for top in ("tailor", "ml")
        for path in sorted((REPO / top).rglob("__init__.py"))
        if not ast.get_docstring(ast.parse(path.read_text()))
    ]
    assert not silent, f"packages without a docstring in __init__.py: {silent}"


def test_the_walker_sees_imports_in_functions_and_relative_ones(tmp_path):
    """The graph counts what a lazy import hides: ``tailor.a`` -> ``tailor.pkg.b`` (relative,
    in a function) -> ``tailor.a`` is a cycle, and a low module importing the pipeline
    inside a function is an upward import."""
    pkg = tmp_path / "tailor" / "pkg"
    pkg.mkdir(parents=True)
    (tmp_path / "tailor" / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("from tailor.pkg import b\n")
    (tmp_path / "tailor" / "a.py").write_text("def f():\n    from tailor.pkg.b import g\n")
    (pkg / "b.py").write_text("def g():\n    from .. import a\n    from . import c\n")
    (pkg / "c.py").write_text("import tailor.pkg\n")
    (tmp_path / "tailor" / "settings.py").write_text("def f():\n    import tailor.pipeline\n")
    (tmp_path / "tailor" / "pipeline.py").write_text("")
    graph = import_graph(tmp_path)
    assert graph["tailor.a"] == {"tailor.pkg.b"}
    assert graph["tailor.pkg.b"] == {"tailor.a", "tailor.pkg.c"}
    assert graph["tailor.pkg.c"] == set()  # its own package's __init__
    assert cycles(graph) == [["tailor.a", "tailor.pkg.b"]]
    assert upward_imports({"tailor.settings": graph["tailor.settings"]}) == [
        "tailor.settings (layer 0) imports tailor.pipeline (layer 2)"
    ]


def test_the_walker_sees_through_lazy_package_maps(tmp_path):
    """``from ml.rec import load``, where ``ml/rec/__init__`` loads ``load`` from
    ``ml.rec.data`` on first use, is an edge to ``ml.rec.data``: a cycle through it shows."""
    rec = tmp_path / "ml" / "rec"
    rec.mkdir(parents=True)
    (tmp_path / "ml" / "__init__.py").write_text("")
    (rec / "__init__.py").write_text('_WHERE = {"load": "data"}\n')
    (rec / "data.py").write_text("from ml import seg\ndef load():\n    pass\n")
    (tmp_path / "ml" / "seg.py").write_text("def f():\n    from ml.rec import load\n")
    graph = import_graph(tmp_path)
    assert graph["ml.seg"] == {"ml.rec.data"}
    assert cycles(graph) == [["ml.rec.data", "ml.seg"]]
