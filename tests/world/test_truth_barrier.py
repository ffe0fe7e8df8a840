"""Production code never touches ground truth: no imports of it, no reads of ``truth.*`` tables."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from sendopt.errors import TruthAccessError

PACKAGE = Path(__file__).resolve().parents[2] / "sendopt"
ALLOWED = ("world", "evaluation")
FORBIDDEN_MODULES = ("sendopt.world.truth", "sendopt.evaluation")
TRUTH_TABLE = re.compile(r"^truth\.\w+$")


def production_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel.parts[0] not in ALLOWED:
            yield path


def violations(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        bad = [n for n in names if n.startswith(FORBIDDEN_MODULES)]
        if bad:
            found.append(f"line {node.lineno}: imports {bad[-1]}")
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and TRUTH_TABLE.match(node.value):
            found.append(f"line {node.lineno}: names table {node.value!r}")
    return found


def test_scanner_sees_every_kind_of_violation(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sendopt.world.truth\nfrom sendopt.evaluation import x\n"
                   "from sendopt.world import truth\nlake.read('truth.user_traits')\n")
    assert len(violations(bad)) == 4


def test_production_code_does_not_import_or_read_truth():
    modules = list(production_modules())
    assert len(modules) > 10
    problems = {str(p.relative_to(PACKAGE)): v for p in modules if (v := violations(p))}
    assert not problems, f"truth barrier broken: {problems}"


def test_lake_refuses_truth_reads_from_production_code(lake):
    """The guard inside Lake.read: a production module reading truth.* is refused."""
    namespace = {"__name__": "sendopt.features.sneaky", "lake": lake}
    exec("def sneak():\n    return lake.read('truth.user_traits')\n", namespace)
    with pytest.raises(TruthAccessError, match="truth.user_traits"):
        namespace["sneak"]()
