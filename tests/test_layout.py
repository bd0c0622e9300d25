"""The layout a newcomer reads: no import goes round in a circle, and docs/design.md's table
names every module of the daemon, at the path where it lives."""

from __future__ import annotations

import graphlib
import re
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("package", ["ingestd", "ingestd_client"])
def test_no_import_cycle(package: str) -> None:
    # Imports made only for type checking are left out: they never run.
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as exc:
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_design_doc_names_every_module() -> None:
    modules = {
        path.relative_to(ROOT / "ingestd").as_posix()
        for path in (ROOT / "ingestd").rglob("*.py")
        if path.name not in {"__init__.py", "__main__.py"}
    }
    lines = (ROOT / "docs/design.md").read_text().splitlines()
    table = [line for line in lines if line.startswith("| ")]
    named = {name for line in table for name in re.findall(r"`([\w/]+\.py)`", line.split(" | ")[0])}
    assert named == modules, {
        "in the tree, not in docs/design.md": sorted(modules - named),
        "in docs/design.md, not in the tree": sorted(named - modules),
    }
