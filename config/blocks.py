"""Finding the labelled blocks of one kind (`listener "tcp" { ... }`) in a parsed config.

HCL and JSON spell repeated blocks differently once parsed: one block is {"tcp": {...}};
several are a list of such dicts (JSON arrays, or reader.Repeated for HCL); different
labels may share one dict ({"tcp": {...}, "unix": {...}}), and HCL-style JSON may give a
list of bodies under one label ({"tcp": [{...}, {...}]}). This module flattens all of them
into (label, body, dotted location) in file order.
"""

from __future__ import annotations

from collections.abc import Mapping

from config.fields import Section, describe

__all__ = ["labelled_blocks"]


def labelled_blocks(top: Section, kind: str, *, example: str) -> list[tuple[str, object, str]]:
    """Every `kind "label" { body }` block as (label, body, location).

    The location is "kind.label", or "kind[i].label" (i counting from 0 in file order)
    when there is more than one block of the kind, so that errors point at one block.
    """
    value = top.raw(kind)
    items = value if isinstance(value, list) else [value]
    found: list[tuple[str, object]] = []
    for item in items:
        if not isinstance(item, Mapping) or not item:
            raise top.error(kind, f'expected a block like {kind} "{example}" {{ ... }}, got {describe(item)}')
        for label, body in item.items():
            for one_body in body if isinstance(body, list) else [body]:
                if not isinstance(label, str) or not isinstance(one_body, Mapping):
                    # `storage { path = "x" }` parses as label "path", body "x".
                    raise top.error(
                        kind, f'expected a block like {kind} "{example}" {{ ... }}: the type label is missing'
                    )
                found.append((label, one_body))
    if len(found) == 1:
        return [(found[0][0], found[0][1], f"{kind}.{found[0][0]}")]
    return [(label, body, f"{kind}[{index}].{label}") for index, (label, body) in enumerate(found)]
