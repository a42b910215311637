"""Reading a definition written as YAML by a person (the API's `application/yaml` bodies, the text
pasted on `/admin/items`, files given to `banjian items draft`).

YAML anchors and aliases (`&a`, `*a`) are refused: a definition never needs them, and a few lines
of nested aliases ("billion laughs") expand into a document of billions of entries once the
definition is copied as JSON, which would hold a worker for minutes and its memory with it.
"""
from __future__ import annotations

from typing import Any

import yaml

from banjian.json_limits import TooDeep, check_depth


class _NoAliasLoader(yaml.SafeLoader):
    """The safe loader, refusing aliases where the composer meets them (before anything expands)."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(
                None, None, "事项定义中不能使用 YAML 别名（*别名）/ YAML aliases are not allowed in a definition",
                mark)
        return super().compose_node(parent, index)  # type: ignore[no-any-return]


def load_yaml(text: str | bytes) -> Any:
    """`yaml.safe_load` without aliases (`yaml.YAMLError` for one, with its line), and nested at most
    `MAX_DEPTH` levels (`TooDeep`, a ValueError: the composer recurses, as `json.loads` does)."""
    try:
        value = yaml.load(text, Loader=_NoAliasLoader)
    except RecursionError:
        raise TooDeep() from None
    check_depth(value)
    return value
