"""seal/ sits between storage and server: it may use storage and its crypto libraries, never server."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import seal

SEAL_DIR = Path(seal.__file__).parent
ALLOWED = {"seal", "storage", "cryptography", "Crypto", "msgpack", "pysequoia"}


def _imported_roots(source: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_seal_imports_only_storage_its_libraries_and_itself() -> None:
    modules = sorted(SEAL_DIR.glob("*.py"))
    assert len(modules) >= 10
    for module in modules:
        foreign = {r for r in _imported_roots(module) if r not in sys.stdlib_module_names and r not in ALLOWED}
        assert not foreign, f"{module.name} imports {sorted(foreign)}"


def test_only_the_barrier_layer_touches_storage_writes() -> None:
    # Engines and the server reach storage only through the barrier; inside seal/, lmdb is never named.
    assert not any("lmdb" in _imported_roots(m) for m in SEAL_DIR.glob("*.py"))
