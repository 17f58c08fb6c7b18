"""The import graph keeps the shape docs/architecture.md describes.

Every ``import kept...`` / ``from kept... import`` in the package is read
from the source (imports inside functions and under ``TYPE_CHECKING``
included: a circle held together by a function-level import is still a
circle), and these rules are checked:

1. no import circles between modules;
2. no upward imports between stages: the foundation (``kept.*`` modules
   such as models, errors, settings, config) imports no stage; the sources
   (``kept.mailboxes``), the extractors and the store import only the
   foundation; the digest adds the extractors and the store; the daemon
   everything but the command line; the command line anything;
3. in particular, no extractor imports the store, the sources, the digest,
   the daemon or the command line (the extractors are pure: records and
   text in, findings out);
4. below the command line, a module imports the package's own modules at
   its top, not inside a function (`LAZY_IMPORTS` lists the exceptions and
   why); the command line imports the pipeline inside its commands to keep
   ``kept`` quick to start (see `kept.commands`);
5. no module of the package has more than `MAX_LINES` lines.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

#: The package-dir mapping of pyproject.toml: import package -> folder.
PACKAGE_DIRS = {
    "kept": "kept",
    "kept.daemon": "daemon",
    "kept.digest": "digest",
    "kept.extractors": "extractors",
    "kept.mailboxes": "mailboxes",
    "kept.storage": "storage",
}

#: What each stage may import besides itself.
ALLOWED = {
    "foundation": set(),
    "mailboxes": {"foundation"},
    "extractors": {"foundation"},
    "storage": {"foundation"},
    "digest": {"foundation", "extractors", "storage"},
    "daemon": {"foundation", "extractors", "storage", "mailboxes", "digest"},
    "commands": {"foundation", "extractors", "storage", "mailboxes", "digest", "daemon"},
}

#: The stages an extractor must never import.
IMPURE_FOR_EXTRACTORS = {"storage", "mailboxes", "digest", "daemon", "commands"}

#: Modules of the command line outside kept/commands/: the entry point, and
#: the completion and man-page writer, which reads the entry point's parser.
COMMAND_LINE_MODULES = {"kept.cli", "kept.shellfiles"}

#: Imports of the package's own modules inside a function, below the command
#: line, that are there on purpose: (importer, imported) -> why.
LAZY_IMPORTS = {
    ("kept.mailboxes.factory", "kept.mailboxes.exchange"):
        "exchangelib takes about 0.3 s to import and only Exchange accounts need it",
    ("kept.extractors.promise_patterns", "kept.extractors.dependency_matching"):
        "it subclasses spaCy's matcher, and spaCy (0.5 s) is imported with the first pipeline, not with the patterns",
}

MAX_LINES = 1000

#: Modules allowed past `MAX_LINES` for now, with the reason.
LONG_MODULES: dict[str, str] = {}


def package_modules() -> dict[str, Path]:
    """Every module of the installed package `kept`, by dotted name."""
    modules: dict[str, Path] = {}
    for package, folder in PACKAGE_DIRS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = [p for p in path.relative_to(ROOT / folder).with_suffix("").parts if p != "__init__"]
            modules[".".join([package, *parts])] = path
    return modules


def stage_of(module: str) -> str:
    """The stage a module belongs to (see `ALLOWED`)."""
    parts = module.split(".")
    if module in COMMAND_LINE_MODULES or parts[1:2] == ["commands"]:
        return "commands"
    if len(parts) > 1 and parts[1] in ALLOWED:
        return parts[1]
    return "foundation"


def _targets(node: ast.Import | ast.ImportFrom, module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules one import statement names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if node.level:  # relative: resolve against the importing package
        base = module.split(".")
        if path.name != "__init__.py":
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = {f"{target}.{alias.name}" for alias in node.names if f"{target}.{alias.name}" in modules}
    if target in modules:
        found.add(target)
    return found


def import_statements(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported module, inside a function?) for every import of a package module in `module`."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                found.extend((target, in_function) for target in _targets(child, module, path, modules))
            else:
                visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False)
    return [(target, inside) for target, inside in found if target != module]


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package modules `module` imports, anywhere in its source."""
    return {target for target, _ in import_statements(module, path, modules)}


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    modules = package_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def find_circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return circles


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    """Imports that break `ALLOWED`, as "importer -> imported (stage -> stage)"."""
    wrong = []
    for importer, targets in sorted(graph.items()):
        for target in sorted(targets):
            source_stage, target_stage = stage_of(importer), stage_of(target)
            if source_stage != target_stage and target_stage not in ALLOWED[source_stage]:
                wrong.append(f"{importer} -> {target} ({source_stage} -> {target_stage})")
    return wrong


def impure_extractors(graph: dict[str, set[str]]) -> list[str]:
    """Extractor imports of the store, the sources or anything downstream."""
    return sorted(
        f"{m} -> {t}"
        for m, targets in graph.items() if stage_of(m) == "extractors"
        for t in targets if stage_of(t) in IMPURE_FOR_EXTRACTORS
    )


def test_the_package_is_found(graph: dict[str, set[str]]) -> None:
    # Guards the other tests against passing on an empty graph.
    assert {"kept.cli", "kept.daemon.scan", "kept.extractors.promises", "kept.storage.base"} <= set(graph)
    assert {stage_of(m) for m in graph} == set(ALLOWED)
    assert "kept.storage.base" in graph["kept.daemon.scan"]


def test_no_import_circles(graph: dict[str, set[str]]) -> None:
    assert find_circles(graph) == []


def test_no_upward_imports(graph: dict[str, set[str]]) -> None:
    assert upward_imports(graph) == []


def test_extractors_are_pure(graph: dict[str, set[str]]) -> None:
    assert impure_extractors(graph) == []


def test_below_the_command_line_imports_are_at_the_top() -> None:
    modules = package_modules()
    lazy = {
        (module, target)
        for module, path in modules.items() if stage_of(module) != "commands"
        for target, inside in import_statements(module, path, modules) if inside
    }
    assert lazy == set(LAZY_IMPORTS)


def test_no_module_is_too_long() -> None:
    lengths = {
        module: len(path.read_text(encoding="utf-8").splitlines()) for module, path in package_modules().items()
    }
    too_long = {module for module, lines in lengths.items() if lines > MAX_LINES}
    assert too_long - set(LONG_MODULES) == set()
    # An allowance ends when the module is split.
    assert too_long >= set(LONG_MODULES)


def test_the_checks_catch_what_they_are_for() -> None:
    # A circle, an upward import and an impure extractor, made up: each rule fires.
    made_up = {
        "kept.digest.build": {"kept.digest.nudges"},
        "kept.digest.nudges": {"kept.digest.build"},
        "kept.storage.base": {"kept.digest.render"},
        "kept.extractors.threads": {"kept.storage.base"},
        "kept.extractors.people": {"kept.mailboxes.imap", "kept.models"},
        "kept.settings": {"kept.cli"},
        "kept.cli": {"kept.daemon.run"},
    }
    assert find_circles(made_up) == [["kept.digest.build", "kept.digest.nudges"]]
    assert upward_imports(made_up) == [
        "kept.extractors.people -> kept.mailboxes.imap (extractors -> mailboxes)",
        "kept.extractors.threads -> kept.storage.base (extractors -> storage)",
        "kept.settings -> kept.cli (foundation -> commands)",
        "kept.storage.base -> kept.digest.render (storage -> digest)",
    ]
    assert impure_extractors(made_up) == [
        "kept.extractors.people -> kept.mailboxes.imap",
        "kept.extractors.threads -> kept.storage.base",
    ]


def test_imports_are_read_wherever_they_are(tmp_path: Path) -> None:
    # Inside a function, under TYPE_CHECKING, relative, `from package import module`.
    source = tmp_path / "feedback.py"
    source.write_text(
        "from typing import TYPE_CHECKING\n"
        "from kept.daemon import nudge_feedback\n"
        "from . import scan\n"
        "if TYPE_CHECKING:\n"
        "    from kept.storage.base import Store\n"
        "def later():\n"
        "    import kept.digest.build\n"
        "    from ..extractors.dates import resolve_due\n",
        encoding="utf-8",
    )
    modules = dict.fromkeys(
        ["kept.daemon", "kept.daemon.feedback", "kept.daemon.nudge_feedback", "kept.daemon.scan",
         "kept.storage.base", "kept.digest.build", "kept.extractors.dates"], source,
    )
    assert sorted(import_statements("kept.daemon.feedback", source, modules)) == [
        ("kept.daemon", False),
        ("kept.daemon", False),
        ("kept.daemon.nudge_feedback", False),
        ("kept.daemon.scan", False),
        ("kept.digest.build", True),
        ("kept.extractors.dates", True),
        ("kept.storage.base", False),
    ]


def test_the_package_dir_mapping_is_pyproject_s() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pyproject["tool"]["setuptools"]["package-dir"] == PACKAGE_DIRS


def test_docs_architecture_names_the_same_folders() -> None:
    # The page a newcomer reads first says which folder each import package is.
    page = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(kept(?:\.\w+)?)` \| `(\w+)/` \|", page, flags=re.M))
    assert rows == PACKAGE_DIRS
