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


#: The deepest nesting a definition may have: the deepest real one is six levels (a joint item's
#: `participants[].steps[].limit.value`); past this a body is refused before anything walks it (the
#: parsers and every later copy recurse, and a few KiB of brackets would exhaust the stack).
MAX_DEPTH = 32


class DefinitionTextError(ValueError):
    """A definition text that cannot be read, said in Chinese (`zh`) and English (the message)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh


def parse_definition_text(text: str | bytes, as_yaml: bool) -> Any:
    """A definition's text (JSON, or YAML without aliases) as data; `DefinitionTextError` with both
    languages for text that cannot be read: a syntax error (its line), nesting past `MAX_DEPTH`, a
    number of thousands of digits."""
    import json

    nested = DefinitionTextError(f"定义嵌套过深（最多 {MAX_DEPTH} 层）", f"the definition nests deeper than {MAX_DEPTH} levels")
    try:
        data = load_yaml(text) if as_yaml else json.loads(text or b"null")
        check_depth(data, MAX_DEPTH)
    except (RecursionError, TooDeep):
        raise nested from None
    except json.JSONDecodeError as e:
        raise DefinitionTextError(f"JSON 格式错误（第 {e.lineno} 行第 {e.colno} 列）：{e.msg}",
                                  f"JSON syntax error at line {e.lineno}, column {e.colno}: {e.msg}") from None
    except yaml.YAMLError as e:
        raise DefinitionTextError(*yaml_error_text(e)) from None
    except ValueError:  # int() of thousands of digits (CPython's guard against quadratic conversion)
        raise DefinitionTextError("数字位数过多：定义中的数字不能超过 4300 位",
                                  "a number has too many digits (at most 4300)") from None
    return data



#: PyYAML's problems (their English wording, matched by its start) said in Chinese for the author,
#: in the order they are tried; anything else is the last, general wording.
_YAML_PROBLEMS_ZH: tuple[tuple[str, str], ...] = (
    ("mapping values are not allowed", "此处不能出现“键: 值”：可能是缩进不对，或值里含有冒号（含冒号的值请加引号）"),
    ("could not find expected ':'", "缺少冒号“:”：每个键后应有冒号，或某一行的缩进不对"),
    ("found character '\\t'", "不能用制表符（Tab）缩进，请改用空格"),
    ("found character", "此处的字符不能作为值的开头（以 @、` 等开头的值请加引号）"),
    ("found unexpected end of stream", "引号未闭合：字符串缺少结尾的引号"),
    ("found unknown escape character", "双引号字符串中有无法识别的转义符（反斜杠 \\ 后的字符），请改用单引号或去掉反斜杠"),
    ("expected ',' or ']'", "方括号 [ ] 未闭合，或列表的各项之间缺少逗号"),
    ("expected ',' or '}'", "花括号 { } 未闭合，或各项之间缺少逗号"),
    ("expected <block end>", "缩进不一致：同一层的各项应对齐"),
    ("could not determine a constructor", "不支持的 YAML 标签（!! 开头），事项定义只能使用普通的文字、数字、列表和键值"),
    ("found unhashable key", "键必须是简单的文字或数字"),
    ("事项定义中不能使用 YAML 别名", "事项定义中不能使用 YAML 别名（*别名）"),
)


def yaml_error_text(e: yaml.YAMLError) -> tuple[str, str]:
    """A YAML syntax error as `(Chinese, English)`, both naming the line and column where PyYAML
    found it; the Chinese says what is wrong in Chinese (PyYAML's wording is English only)."""
    mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
    what = getattr(e, "problem", None) or str(e)
    zh = next((said for start, said in _YAML_PROBLEMS_ZH if what.startswith(start)),
              "无法识别的 YAML 写法，请检查该处的缩进、冒号和引号")
    if "/ " in what and what.startswith("事项定义"):
        what = what.split("/ ", 1)[1]  # our own alias refusal carries both languages
    if mark is None:
        return f"YAML 格式错误：{zh}", f"YAML syntax error: {what}"
    line, col = mark.line + 1, mark.column + 1
    return (f"YAML 格式错误（第 {line} 行第 {col} 列）：{zh}",
            f"YAML syntax error at line {line}, column {col}: {what}")
