"""Reading JSON (and YAML) from outside without a stack overflow: a document nested deeper than any
real one (`MAX_DEPTH`) is refused as unparsable. `json.loads` itself raises `RecursionError` from
about a thousand levels (a 2 KB body of `[`), which no caller expects and which became a 500."""
from __future__ import annotations

import json
from typing import Any

#: the deepest nesting a body may have: an item definition, the deepest real one, is about ten levels
MAX_DEPTH = 64


class TooDeep(ValueError):
    """A document nested past its bound (a ValueError, as any unparsable document)."""

    def __init__(self, bound: int = MAX_DEPTH) -> None:
        super().__init__(f"nested more than {bound} levels deep (嵌套超过 {bound} 层)")


def loads(raw: str | bytes) -> Any:
    """`json.loads`, refusing (`TooDeep`) a document nested past `MAX_DEPTH`."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise TooDeep() from None
    check_depth(value)
    return value


def check_depth(value: Any, bound: int = MAX_DEPTH) -> None:
    """`TooDeep` unless `value` (parsed JSON or YAML) nests at most `bound` levels (walked without
    recursion)."""
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            if depth > bound:
                raise TooDeep(bound)
            pending.extend((child, depth + 1) for child in (node.values() if isinstance(node, dict) else node))
