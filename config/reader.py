"""A config file's text -> plain data (dicts, lists, scalars); nothing is validated here.

HCL goes through pyhcl, JSON through the json module, as Vault accepts both. pyhcl's own
`hcl.loads` folds repeated top-level blocks into one: two `listener "tcp"` blocks come back
as a single dict whose keys are a mix of both, and a repeated top-level key silently keeps
the last value. For a security server's config that is data loss, so this module runs
pyhcl's grammar with a flattening step that keeps every occurrence: a key given more than
once maps to a `Repeated` list of its values, in file order. JSON gets the same treatment
through object_pairs_hook. pyhcl's and json's exceptions become ConfigError here.
"""

from __future__ import annotations

import functools
import json
import os
from typing import Any

from hcl.parser import HclParser

from config.errors import ConfigError

__all__ = ["Repeated", "parse_config_text", "read_config_file"]


class Repeated(list):
    """Every value of a key that appeared more than once in one object, in file order."""


def _keep_repeats(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    result: dict[Any, Any] = {}
    for key, value in pairs:
        if key not in result:
            result[key] = value
        elif isinstance(result[key], Repeated):
            result[key].append(value)
        else:
            result[key] = Repeated([result[key], value])
    return result


class _RepeatKeepingHclParser(HclParser):
    """pyhcl's grammar, flattening objects without merging or dropping repeated keys."""

    def objectlist_flat(self, lt: list[tuple[Any, Any]], replace: bool) -> dict[Any, Any]:
        return _keep_repeats(lt)

    def p_error(self, p: Any) -> None:
        # ply's documented token fields; pyhcl's own message calls the offset from the
        # start of the file a "column", so the column is worked out from the text instead.
        raise _HclSyntaxError(None if p is None else (p.lineno, p.lexpos, p.type))


class _HclSyntaxError(ValueError):
    """Where the parser stopped: (line, offset in the text, token type), or None at the end."""

    def __init__(self, at: tuple[int, int, str] | None) -> None:
        super().__init__(at)
        self.at = at

    def describe(self, text: str) -> str:
        if self.at is None:
            return "unexpected end of file"
        line, offset, token = self.at
        column = offset - (text.rfind("\n", 0, offset) + 1) + 1
        # The token's value is left out: it may be a quoted secret.
        return f"line {line}, column {column}: unexpected {token}"


@functools.lru_cache(maxsize=1)
def _hcl_parser() -> _RepeatKeepingHclParser:
    # ply builds the LALR tables on construction (tens of milliseconds): build them once.
    return _RepeatKeepingHclParser()


def parse_config_text(text: str, source: str, *, as_json: bool) -> dict[str, Any]:
    """The top-level object of an HCL or JSON config text; source names it in errors."""
    if as_json:
        try:
            data = json.loads(text, object_pairs_hook=_keep_repeats)
        except json.JSONDecodeError as error:
            raise ConfigError(source, None, f"cannot parse JSON: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError(source, None, "cannot parse JSON: the top level must be an object")
        return data
    try:
        data = _hcl_parser().parse(text)
    except _HclSyntaxError as error:
        raise ConfigError(source, None, f"cannot parse HCL: {error.describe(text)}") from None
    # pyhcl's lexer reports errors as ValueError (with a correct line and column), and
    # pyhcl evaluates arithmetic ("1/0") and function calls while parsing, which raise
    # ArithmeticError and TypeError.
    except (ValueError, ArithmeticError, TypeError) as error:
        raise ConfigError(source, None, f"cannot parse HCL: {error}") from None
    # An empty file parses to None.
    return data if isinstance(data, dict) else {}


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The top-level object of the config file at path.

    *.json files, and files whose first non-blank character is "{" (as pyhcl and Vault
    decide), are read as JSON; all others as HCL.
    """
    source = os.fspath(path)
    try:
        with open(source, encoding="utf-8") as file:
            text = file.read()
    except FileNotFoundError:
        raise ConfigError(source, None, "no such file") from None
    except IsADirectoryError:
        raise ConfigError(source, None, "is a directory; give the path of one config file") from None
    except UnicodeDecodeError:
        raise ConfigError(source, None, "not UTF-8 text") from None
    except OSError as error:
        raise ConfigError(source, None, f"cannot read: {error.strerror or error}") from None
    as_json = source.lower().endswith(".json") or text.lstrip().startswith("{")
    return parse_config_text(text, source, as_json=as_json)
