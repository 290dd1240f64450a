"""harness/ is laid out as its pipeline: a module imports only from its own stage or earlier ones.

The stage packages, in pipeline order, are PIPELINE; the wiring at the top (`__main__`, `run`,
`stages`) may import any of them, and `errors` is below them all. The README's architecture
table names the same folders.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

HARNESS = Path(__file__).resolve().parent.parent / "harness"
PIPELINE = ("model", "preparation", "measurement", "analysis", "presentation", "pooling")
WIRING = {"__main__", "run", "stages"}
BASE = {"__init__", "errors"}


def rank(module: str) -> int:
    """harness.<package>.<m> -> the package's place in PIPELINE; the base -1, the wiring last."""
    parts = module.split(".")
    if len(parts) > 1 and parts[1] in PIPELINE:
        return PIPELINE.index(parts[1])
    return -1 if len(parts) == 1 or parts[1] in BASE else len(PIPELINE)


def harness_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every harness module `path` imports, at the top or inside a function."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("harness"):
            base = node.module or ""
            # `from harness.analysis import stats` names modules; `from harness.x.y import f` names
            # y's attributes, and the module is y.
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                module = (
                    candidate
                    if (HARNESS.parent / f"{candidate.replace('.', '/')}.py").exists()
                    else base
                )
                found.append((node.lineno, module))
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("harness")]
    return found


def test_the_harness_folder_holds_the_stage_packages_and_only_the_wiring_beside_them():
    modules = {p.stem for p in HARNESS.glob("*.py")}
    packages = {p.name for p in HARNESS.iterdir() if (p / "__init__.py").is_file()}
    assert packages == set(PIPELINE)
    assert modules == WIRING | BASE


@pytest.mark.parametrize("package", PIPELINE)
def test_no_module_imports_one_from_a_later_stage(package: str):
    later = []
    for path in sorted((HARNESS / package).glob("*.py")):
        here = rank(f"harness.{package}")
        for line, module in harness_imports(path):
            if rank(module) > here:
                later.append(f"{path.relative_to(HARNESS.parent)}:{line} imports {module}")
    assert later == []


def test_the_readme_architecture_table_names_every_stage_package():
    readme = (HARNESS.parent / "README.md").read_text()
    table = readme.split("## Architecture", 1)[1].split("\n## ", 1)[0]
    for package in PIPELINE:
        assert f"`harness/{package}/`" in table, package
