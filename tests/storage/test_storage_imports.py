"""storage/ depends on nothing of strongroom's and on no third-party package but lmdb."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import storage

STORAGE_DIR = Path(storage.__file__).parent
ALLOWED_THIRD_PARTY = {"lmdb"}


def _imported_roots(source: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_storage_imports_only_stdlib_lmdb_and_itself() -> None:
    modules = sorted(STORAGE_DIR.glob("*.py"))
    assert len(modules) >= 5
    for module in modules:
        foreign = {
            root
            for root in _imported_roots(module)
            if root not in sys.stdlib_module_names and root not in ALLOWED_THIRD_PARTY | {"storage"}
        }
        assert not foreign, f"{module.name} imports {sorted(foreign)}"


def test_only_lmdb_store_imports_lmdb() -> None:
    # lmdb.Error is translated where lmdb is imported; the memory backend must not need it.
    users = {m.name for m in STORAGE_DIR.glob("*.py") if "lmdb" in _imported_roots(m)}
    assert users == {"lmdb_store.py"}
