"""The shape of the package: the import graph has no cycle, and the layers hold.

import-linter (``lint-imports``, contracts in ``pyproject.toml``) checks the directions between
packages; it does not look for cycles between modules inside one package, which Python hides
until the wrong module is imported first.  This test builds the same graph with grimp (the
library import-linter is built on; it sees imports inside functions too) and fails on any cycle.
"""

from __future__ import annotations

import subprocess
import sys

import grimp
import pytest

PACKAGE = "ekarta"


def strongly_connected(graph: grimp.ImportGraph) -> list[list[str]]:
    """The groups of modules that import each other, directly or through others (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0

    for root in sorted(graph.modules):
        if root in index:
            continue
        # iterative depth-first search: (module, the successors still to visit)
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            module, successors = work[-1]
            for succ in successors:
                if succ not in index:
                    index[succ] = low[succ] = counter
                    counter += 1
                    stack.append(succ)
                    on_stack.add(succ)
                    work.append((succ, iter(sorted(graph.find_modules_directly_imported_by(succ)))))
                    break
                if succ in on_stack:
                    low[module] = min(low[module], index[succ])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[module])
                if low[module] == index[module]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == module:
                            break
                    if len(group) > 1:
                        groups.append(sorted(group))
    return groups


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    # with the third-party packages as leaves: which modules load a UI toolkit is seen too
    return grimp.build_graph(PACKAGE, include_external_packages=True)


def test_no_module_is_part_of_an_import_cycle(graph: grimp.ImportGraph) -> None:
    cycles = strongly_connected(graph)
    assert cycles == [], "modules that import each other:\n" + "\n".join(
        " <-> ".join(group) for group in cycles)


def test_the_cycle_finder_finds_a_cycle() -> None:
    graph = grimp.ImportGraph()
    for name in ("p", "p.a", "p.b", "p.c", "p.d"):
        graph.add_module(name)
    graph.add_import(importer="p.a", imported="p.b")
    graph.add_import(importer="p.b", imported="p.c")
    graph.add_import(importer="p.c", imported="p.a")
    graph.add_import(importer="p.d", imported="p.a")
    assert strongly_connected(graph) == [["p.a", "p.b", "p.c"]]


def test_only_the_command_line_imports_the_command_line(graph: grimp.ImportGraph) -> None:
    outside = {
        importer
        for cli_module in graph.find_descendants(f"{PACKAGE}.cli") | {f"{PACKAGE}.cli"}
        for importer in graph.find_modules_that_directly_import(cli_module)
        if not importer.startswith(f"{PACKAGE}.cli")
    }
    # python -m ekarta is the command line's own entry point
    assert outside <= {f"{PACKAGE}.__main__"}


def test_readers_load_no_emulator_module() -> None:
    """Opening the reader registry, or a hardware driver's module, never loads the emulator."""
    code = (
        "import sys, ekarta.readers, ekarta.readers.pcsc, ekarta.readers.pn532;"
        "print(sorted(m for m in sys.modules if m.startswith('ekarta.emulator')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_only_the_terminal_apps_load_a_ui_toolkit(graph: grimp.ImportGraph) -> None:
    """Textual is imported inside ``ekarta.terminal.apps`` alone: the headless commands and the
    tap engine never load it (the package's ``__init__`` imports nothing, so a command can
    import one app lazily)."""
    importers = graph.find_modules_that_directly_import("textual")
    assert importers, "the terminal apps use Textual"
    assert all(m.startswith(f"{PACKAGE}.terminal.apps.") for m in importers), sorted(importers)
    assert graph.find_modules_directly_imported_by(f"{PACKAGE}.terminal.apps") == set()
