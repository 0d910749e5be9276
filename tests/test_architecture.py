"""The shape of the package: no import cycles between nextword's modules, no function in
nextword/ longer than MAX_FUNCTION_LINES. What is known to break either rule today is
listed below and marked xfail(strict=True): once it is fixed its test passes, which fails
the run until it is taken off the list (so the lists only shrink)."""

from __future__ import annotations

import ast
from pathlib import Path

import grimp
import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "nextword"
MAX_FUNCTION_LINES = 80

# Import cycles being taken apart (issue 27): empty this list as they go.
KNOWN_CYCLES: list[tuple[str, ...]] = []
# Functions longer than MAX_FUNCTION_LINES (file relative to nextword/, qualified name).
KNOWN_LONG_FUNCTIONS: list[tuple[str, str]] = []


def import_cycles() -> list[frozenset[str]]:
    """The strongly connected components of more than one module in the graph of nextword's
    imports of its own modules (every import, inside functions too; grimp)."""
    graph = grimp.build_graph("nextword")
    modules = sorted(m for m in graph.modules if m.startswith("nextword"))
    edges = {m: sorted(d for d in graph.find_modules_directly_imported_by(m) if d.startswith("nextword"))
             for m in modules}
    # Tarjan's algorithm, iteratively (no recursion limit to worry about).
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[frozenset[str]] = []
    for root in modules:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, successors = work[-1]
            for nxt in successors:
                if nxt not in index:
                    index[nxt] = low[nxt] = len(index)
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(edges[nxt])))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(frozenset(component))
    return components


def functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, node) of every function and method in `tree`, nested ones too."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if not isinstance(child, ast.ClassDef):
                yield prefix + child.name, child
            yield from functions(child, f"{prefix}{child.name}.")
        else:
            yield from functions(child, prefix)


def long_functions(package: Path = PACKAGE) -> dict[tuple[str, str], int]:
    """(file, qualified name) -> lines, of every function or method in `package` longer than
    MAX_FUNCTION_LINES (from `def` to its last line; a nested function counts in its own
    right and in the function around it)."""
    found = {}
    for file in sorted(package.rglob("*.py")):
        for name, node in functions(ast.parse(file.read_text(encoding="utf-8"))):
            lines = node.end_lineno - node.lineno + 1
            if lines > MAX_FUNCTION_LINES:
                found[(file.relative_to(package).as_posix(), name)] = lines
    return found


def test_the_cycle_finder_finds_a_cycle(monkeypatch):
    """The check can fail: two modules that import each other are one component."""
    class Graph:
        modules = {"nextword.a", "nextword.b", "nextword.c"}

        def find_modules_directly_imported_by(self, m):
            return {"nextword.a": {"nextword.b"}, "nextword.b": {"nextword.a", "nextword.c"},
                    "nextword.c": set()}[m]

    monkeypatch.setattr(grimp, "build_graph", lambda _name: Graph())
    assert import_cycles() == [frozenset({"nextword.a", "nextword.b"})]


def test_no_import_cycles_but_the_known_ones():
    known = {frozenset(c) for c in KNOWN_CYCLES}
    assert [sorted(c) for c in import_cycles() if c not in known] == []


@pytest.mark.parametrize("cycle", [
    pytest.param(c, id="<->".join(m.rsplit(".", 1)[1] for m in c),
                 marks=pytest.mark.xfail(strict=True, reason="a known import cycle (KNOWN_CYCLES)"))
    for c in KNOWN_CYCLES])
def test_a_known_cycle_is_gone(cycle):
    assert frozenset(cycle) not in import_cycles()


def test_the_length_check_finds_a_long_method(tmp_path):
    body = "".join(f"        x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES - 1))
    (tmp_path / "m.py").write_text(f"class A:\n    def short(self):\n{body}\n    def long(self):\n{body}"
                                   "        return 1\n")
    assert long_functions(tmp_path) == {("m.py", "A.long"): MAX_FUNCTION_LINES + 1}


def test_no_function_is_longer_than_the_limit_but_the_known_ones():
    new = {where: n for where, n in long_functions().items() if where not in KNOWN_LONG_FUNCTIONS}
    assert new == {}, f"functions over {MAX_FUNCTION_LINES} lines"


@pytest.mark.parametrize("where", [
    pytest.param(w, id=f"{w[0]}:{w[1]}",
                 marks=pytest.mark.xfail(strict=True, reason="a known long function (KNOWN_LONG_FUNCTIONS)"))
    for w in KNOWN_LONG_FUNCTIONS])
def test_a_known_long_function_is_short(where):
    assert where not in long_functions()
