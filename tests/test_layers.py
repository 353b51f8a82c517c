"""The dependency direction of DESIGN.md, checked on the source: config, storage <- seal <- server.

Each package may import the standard library, its own third-party libraries and the packages
below it; nothing imports server/.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

ALLOWED = {
    "config": {"config", "hcl"},
    "storage": {"storage", "lmdb"},
    "seal": {"seal", "storage", "cryptography", "Crypto", "msgpack", "pysequoia"},
}


def imported_roots(source: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def modules(package: str) -> list[Path]:
    found = sorted((REPO / package).rglob("*.py"))
    assert len(found) >= 5, f"{package}/ has too few modules to be the real package"
    return found


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_lies_below_it(package):
    for module in modules(package):
        foreign = imported_roots(module) - sys.stdlib_module_names - ALLOWED[package]
        assert not foreign, f"{module.relative_to(REPO)} imports {sorted(foreign)}"


def test_only_lmdb_store_imports_lmdb():
    # lmdb.Error is translated where lmdb is imported; nothing else may need it.
    users = {m.name for p in ("storage", "seal", "server") for m in modules(p) if "lmdb" in imported_roots(m)}
    assert users == {"lmdb_store.py"}
