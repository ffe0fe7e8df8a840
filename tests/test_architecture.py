"""The shape of the code, checked: no import cycle, no channel importing another, a lake engine that knows no
domain — read from the source (every runtime import, lazy ones included; ``if TYPE_CHECKING`` blocks excluded)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "sendopt"

#: What the lake engine (sendopt/lake/) may import besides itself: shared infrastructure, no domain.
LAKE_MAY_IMPORT = ("sendopt.lake", "sendopt.errors", "sendopt.observability", "sendopt.spark", "sendopt.strict")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def runtime_imports(module: str) -> set[str]:
    """Every sendopt module ``module`` imports when it runs (any depth, lazy imports too)."""
    tree = ast.parse(MODULES[module].read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and _is_type_checking(node)
               for child in node.body for n in ast.walk(child)}
    package = module if MODULES[module].name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in MODULES}
    return {m for m in found if m in MODULES and m != module}


GRAPH = {m: runtime_imports(m) for m in MODULES}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = 2
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def channel_of(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) >= 3 and parts[1] == "channels" and (PACKAGE / "channels" / parts[2]).is_dir():
        return parts[2]
    return None


def test_there_is_no_import_cycle():
    assert find_cycle(GRAPH) is None, " -> ".join(find_cycle(GRAPH))


def test_the_cycle_check_finds_a_cycle_hidden_by_a_lazy_import():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    source = "def f():\n    from sendopt.lake import quality\n"
    assert "sendopt.lake.quality" in {
        f"{n.module}.{a.name}" for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ImportFrom)
        for a in n.names}


def test_no_channel_imports_another_channel():
    crossing = [(m, dep) for m, deps in GRAPH.items() if channel_of(m)
                for dep in deps if channel_of(dep) and channel_of(dep) != channel_of(m)]
    assert crossing == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("sendopt.lake")))
def test_the_lake_engine_imports_no_domain(module):
    foreign = sorted(d for d in GRAPH[module] if not d.startswith(LAKE_MAY_IMPORT))
    assert foreign == [], f"{module} imports {foreign}"


def test_shared_infrastructure_the_lake_uses_imports_no_domain_either():
    for module in ("sendopt.spark", "sendopt.observability", "sendopt.strict", "sendopt.errors"):
        assert {d for d in GRAPH[module] if not d.startswith(LAKE_MAY_IMPORT)} == set(), module


def test_only_the_world_and_evaluation_name_truth_tables_in_code():
    """The runtime guard (Lake.read) refuses other readers; this keeps truth table names out of their code."""
    for module, path in MODULES.items():
        if module.startswith(("sendopt.world", "sendopt.evaluation", "sendopt.catalog", "sendopt.lake")):
            continue
        assert '"truth.' not in path.read_text(), f"{module} names a truth table"
