"""Fees (收费): the amount a case owes, fixed or computed from the application form.

A fee item (`fees.items[]`) has either a fixed `amount` (yuan) or a `formula`: one expression over
the item's number and boolean form fields (a boolean counts 1 or 0), with

    numbers (12, 0.5), + - * / //, %, unary -, comparisons (< <= > >= == !=), and, or, not,
    `a if condition else b`, min(…), max(…), round(x[, n]), ceil(x), floor(x)

e.g. `10 * copies`, `max(50, area * 2.5)`, `20 if urgent else 10`. Evaluated by `simpleeval`
(no attribute access, no subscripts, no strings, no `**`, no calls but those above; never `eval`),
then rounded half-up to the fen (0.01). A result below 0 or above 100,000,000 yuan is refused
(`FeeOutOfRange`), as is a total above it: when the item is authored (`items.fee_rules`, at the
bounds of the fields it reads) and when the applicant submits (`applications.check_form`).
"""
from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

MAX_FEE = Decimal("100000000")
MAX_FORMULA = 500
OPERATORS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b,
    ast.USub: lambda a: -a, ast.UAdd: lambda a: +a, ast.Not: lambda a: not a,
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Gt: lambda a, b: a > b,
    ast.Lt: lambda a, b: a < b, ast.GtE: lambda a, b: a >= b, ast.LtE: lambda a, b: a <= b,
}
#: how a refused piece of a formula is named to an author (ast node → Chinese), e.g. `area ** 2`
_NOT_ALLOWED_ZH = {"Pow": "乘方 **", "BitXor": "^（乘方请写成相乘，如 area * area）", "BitAnd": "&", "BitOr": "|",
                   "LShift": "<<", "RShift": ">>", "Invert": "~", "MatMult": "@", "Attribute": "属性访问（.）",
                   "Subscript": "下标（[]）", "List": "列表", "Tuple": "元组", "Dict": "字典", "Set": "集合",
                   "Lambda": "lambda", "NamedExpr": ":=", "JoinedStr": "字符串"}
FUNCTIONS = {"min": min, "max": max, "round": round, "ceil": math.ceil, "floor": math.floor}


class FeeError(ValueError):
    """A formula that cannot be evaluated, or a fee out of bounds; `zh` says it in Chinese (the
    English text is the exception's own)."""

    def __init__(self, en: str, zh: str | None = None) -> None:
        super().__init__(en)
        self.zh = zh or en


class FeeOutOfRange(FeeError):
    """A computed fee below 0 or above `MAX_FEE` (one item's, or the total); `names`: the form
    fields the formulas read (what the applicant typed that gave it)."""

    def __init__(self, amount: Decimal, names: set[str]) -> None:
        super().__init__(f"the fee computed from the form is {amount} yuan: a fee must be between 0 and {MAX_FEE} yuan",
                         f"按所填内容计算的收费金额为 {amount} 元，收费金额应在 0 至 {MAX_FEE} 元之间")
        self.amount, self.names = amount, names


def names_in(formula: str) -> set[str]:
    """The form fields a formula reads (a SyntaxError-free formula is assumed)."""
    return {n.id for n in ast.walk(ast.parse(formula, mode="eval")) if isinstance(n, ast.Name)} - set(FUNCTIONS)


def check_formula(formula: str) -> None:
    """Raise FeeError unless `formula` parses as an expression of the allowed grammar."""
    if len(formula) > MAX_FORMULA:
        raise FeeError(f"a formula has at most {MAX_FORMULA} characters", f"收费公式不能超过 {MAX_FORMULA} 个字符")
    try:
        tree = ast.parse(formula, mode="eval")
    except SyntaxError as e:
        raise FeeError(f"not an expression: {e.msg}", "收费公式不是有效的算式，请检查括号和运算符是否完整") from None
    allowed = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call, ast.Name,
               ast.Constant, ast.Load, ast.And, ast.Or, *OPERATORS)
    for node in ast.walk(tree):
        if not isinstance(node, allowed):
            what = _NOT_ALLOWED_ZH.get(type(node).__name__, type(node).__name__)
            raise FeeError(f"{type(node).__name__} is not allowed in a fee formula",
                           f"收费公式中不能使用{what}；可用：数字、+ - * / // %、比较、and/or/not、"
                           "a if 条件 else b、min、max、round、ceil、floor")
        if isinstance(node, ast.Constant) and (isinstance(node.value, bool) or not isinstance(node.value, int | float)):
            raise FeeError("only numbers may be written in a fee formula", "收费公式中只能写数字（不能写文字或 true/false）")
        if isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            raise FeeError("only min, max, round, ceil and floor may be called",
                           "收费公式中只能调用 min、max、round、ceil、floor")


def evaluate(formula: str, form: Mapping[str, Any]) -> Decimal:
    """The fee a formula gives for this form, in yuan, rounded to the fen."""
    from simpleeval import (  # here: definitions (and this module) enter workflows
        InvalidExpression,
        SimpleEval,
    )

    check_formula(formula)
    names: dict[str, float | int] = {}
    for name in names_in(formula):
        value = form.get(name)
        if isinstance(value, bool):
            names[name] = int(value)
        elif isinstance(value, int | float):
            names[name] = value
        else:
            raise FeeError(f"form field {name!r} is missing or not a number")
    try:
        result = SimpleEval(operators=OPERATORS, functions=FUNCTIONS, names=names).eval(formula)
    except (InvalidExpression, ArithmeticError, TypeError, ValueError) as e:
        raise FeeError(f"cannot compute the fee: {e}") from None
    if isinstance(result, bool) or not isinstance(result, int | float) or not math.isfinite(result):
        raise FeeError("a fee formula must give a number")
    amount = Decimal(repr(result)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    if amount < 0 or amount > MAX_FEE:
        raise FeeOutOfRange(amount, names_in(formula))
    return amount


def total_fee(items: list[Any], form: Mapping[str, Any]) -> Decimal:
    """The sum of an item's fee items (`amount` fixed, or `formula`), in yuan."""
    total = Decimal("0.00")
    for fee in items:
        if fee.formula:
            total += evaluate(fee.formula, form)
        elif fee.amount is not None:
            total += Decimal(str(fee.amount)).quantize(Decimal("0.01"))
    if total > MAX_FEE:  # each item within bounds, the sum of many not
        raise FeeOutOfRange(total, set().union(*(names_in(f.formula) for f in items if f.formula)))
    return total
