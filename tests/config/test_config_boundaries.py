"""config imports no other strongroom package: only the standard library, pyhcl and itself."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[2] / "config"
ALLOWED_THIRD_PARTY = {"hcl"}


def imported_top_level_names(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_config_imports_only_stdlib_pyhcl_and_itself() -> None:
    modules = sorted(CONFIG.glob("*.py"))
    assert len(modules) > 5
    for module in modules:
        foreign = imported_top_level_names(module) - sys.stdlib_module_names - ALLOWED_THIRD_PARTY - {"config", "__future__"}
        assert not foreign, f"{module.name} imports {sorted(foreign)}"
