"""A small OData ``$filter`` compiler: a tokenizer and a recursive-descent parser.

Grammar (lowest precedence first)::

    or_expr    := and_expr ('or' and_expr)*
    and_expr   := comparison ('and' comparison)*
    comparison := unary (('eq'|'ne'|'gt'|'ge'|'lt'|'le') unary)?
    unary      := 'not' unary | operand
    operand    := '(' or_expr ')' | function '(' args ')' | Field | literal

As in ODataLib, ``not`` binds tighter than a comparison: write ``not (A eq 'x')``.

Literals: ``'text'`` (``''`` is a quote), ISO datetimes unquoted or as ``datetime'...'``,
integers, decimals (``99.99m``), ``null``, ``true``/``false``. Functions: ``startswith``,
``endswith``, ``substringof('x', Field)``, ``contains``, ``length``. Types are checked while
parsing, as ODataLib does, so ``VendorNumber eq 1200`` is rejected before any row is read.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

Row = dict[str, Any]
Predicate = Callable[[Row], bool]


class QueryError(ValueError):
    """A query option cannot be parsed or does not fit the entity; the message says where and why."""


_TOKEN = re.compile(
    r"""(?P<datetime>datetime'[^']*'
        | \d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(?:Z|[+-]\d{2}:\d{2})?(?![\w.])
      )
      | (?P<string>'(?:[^']|'')*')
      | (?P<number>[+-]?\d+(?:\.\d+)?[mMdDfFlL]?(?![\w.]))
      | (?P<name>[A-Za-z_]\w*)
      | (?P<punct>[(),])
    """,
    re.VERBOSE,
)

_COMPARISONS = {"eq": operator.eq, "ne": operator.ne, "gt": operator.gt,
                "ge": operator.ge, "lt": operator.lt, "le": operator.le}
_EDM_NAMES = {"string": "Edm.String", "datetime": "Edm.DateTimeOffset", "number": "Edm.Decimal",
              "bool": "Edm.Boolean", "null": "null"}
# name -> (argument types, result type, implementation)
_FUNCTIONS: dict[str, tuple[tuple[str, ...], str, Callable[..., Any]]] = {
    "startswith": (("string", "string"), "bool", lambda s, p: s.startswith(p)),
    "endswith": (("string", "string"), "bool", lambda s, p: s.endswith(p)),
    "substringof": (("string", "string"), "bool", lambda needle, s: needle in s),
    "contains": (("string", "string"), "bool", lambda s, needle: needle in s),
    "length": (("string",), "number", len),
}
_KEYWORDS = {"and", "or", "not", "null", "true", "false", *_COMPARISONS}


@dataclass(frozen=True)
class _Token:
    kind: str  # datetime | string | number | name | punct | end
    text: str
    position: int


@dataclass(frozen=True)
class _Node:
    type: str  # string | datetime | number | bool | null
    evaluate: Callable[[Row], Any]


def compile_filter(text: str, field_types: dict[str, str], type_name: str = "APVendor") -> Predicate:
    """Compile ``text`` against the entity ``type_name`` whose fields have these types
    (string, datetime, number, collection)."""
    return _Parser(text, field_types, type_name).parse()


def _tokenize(text: str) -> list[_Token]:
    tokens, position = [], 0
    while True:
        while position < len(text) and text[position].isspace():
            position += 1
        if position == len(text):
            return tokens + [_Token("end", "", position)]
        match = _TOKEN.match(text, position)
        if match is None:
            raise QueryError(f"Syntax error at position {position} in '{text}'.")
        tokens.append(_Token(match.lastgroup or "", match.group(), position))
        position = match.end()


class _Parser:
    def __init__(self, text: str, field_types: dict[str, str], type_name: str) -> None:
        self.text = text
        self.field_types = field_types
        self.type_name = type_name
        self.tokens = _tokenize(text)
        self.index = 0

    def parse(self) -> Predicate:
        node = self.or_expr()
        if self.peek().kind != "end":
            self.fail("unexpected token")
        self.require_bool(node, "the $filter expression")
        return lambda row: node.evaluate(row) is True

    # -- token helpers -------------------------------------------------------------------------

    def peek(self) -> _Token:
        return self.tokens[self.index]

    def next(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def at_word(self, *words: str) -> bool:
        token = self.peek()
        return token.kind == "name" and token.text in words

    def expect(self, text: str) -> None:
        if self.peek().text != text or self.peek().kind not in ("punct", "name"):
            self.fail(f"'{text}' expected")
        self.next()

    def fail(self, why: str) -> None:
        token = self.peek()
        found = f"'{token.text}'" if token.text else "the end of the expression"
        raise QueryError(f"Syntax error at position {token.position} in '{self.text}': {why}, found {found}.")

    def require_bool(self, node: _Node, what: str) -> None:
        if node.type != "bool":
            raise QueryError(f"{what} must be a boolean expression, not {_EDM_NAMES[node.type]}.")

    # -- grammar -------------------------------------------------------------------------------

    def or_expr(self) -> _Node:
        return self._chain(self.and_expr, "or", any)

    def and_expr(self) -> _Node:
        return self._chain(self.comparison, "and", all)

    def _chain(self, operand: Callable[[], _Node], word: str, combine: Callable[[Any], bool]) -> _Node:
        nodes = [operand()]
        while self.at_word(word):
            self.next()
            nodes.append(operand())
        if len(nodes) == 1:
            return nodes[0]
        for node in nodes:
            self.require_bool(node, f"each operand of '{word}'")
        return _Node("bool", lambda row: combine(node.evaluate(row) for node in nodes))

    def comparison(self) -> _Node:
        left = self.unary()
        if not self.at_word(*_COMPARISONS):
            return left
        word = self.next().text
        right = self.unary()
        if not _comparable(left.type, right.type) or (word not in ("eq", "ne") and "bool" in (left.type, right.type)):
            raise QueryError(f"A binary operator with incompatible types was detected. Found operand types "
                              f"'{_EDM_NAMES[left.type]}' and '{_EDM_NAMES[right.type]}' for operator '{word}'.")
        compare = _COMPARISONS[word]

        def evaluate(row: Row) -> bool:
            a, b = left.evaluate(row), right.evaluate(row)
            if a is None or b is None:  # null only equals null; ordering against null is false
                return compare(a is None, b is None) if word in ("eq", "ne") else False
            return compare(a, b)

        return _Node("bool", evaluate)

    def unary(self) -> _Node:
        if self.at_word("not"):
            self.next()
            inner = self.unary()
            self.require_bool(inner, "the operand of 'not'")
            return _Node("bool", lambda row: not inner.evaluate(row))
        return self.operand()

    def operand(self) -> _Node:
        token = self.next()
        if token.kind == "punct" and token.text == "(":
            node = self.or_expr()
            self.expect(")")
            return node
        if token.kind == "string":
            value = token.text[1:-1].replace("''", "'")
            return _Node("string", lambda row: value)
        if token.kind == "datetime":
            value = _parse_datetime(token.text, self.text)
            return _Node("datetime", lambda row: value)
        if token.kind == "number":
            value = _parse_number(token.text)
            return _Node("number", lambda row: value)
        if token.kind == "name":
            if token.text == "null":
                return _Node("null", lambda row: None)
            if token.text in ("true", "false"):
                flag = token.text == "true"
                return _Node("bool", lambda row: flag)
            if self.peek().text == "(" and token.text not in _KEYWORDS:
                return self.function(token)
            if token.text not in _KEYWORDS:
                return self.field(token.text)
        self.index -= 1
        self.fail("a field, literal or '(' expected")
        raise AssertionError  # fail() always raises

    def field(self, name: str) -> _Node:
        kind = self.field_types.get(name)
        if kind is None:
            raise QueryError(f"Could not find a property named '{name}' on type '{self.type_name}'.")
        if kind == "datetime":
            return _Node("datetime", lambda row: _parse_datetime(row[name], None) if row[name] else None)
        if kind == "string":
            # Sage view fields are fixed-length: compare without the trailing blanks.
            return _Node("string", lambda row: row[name].rstrip() if isinstance(row[name], str) else row[name])
        if kind == "number":
            return _Node("number", lambda row: row[name])
        raise QueryError(f"The property '{name}' cannot be used in a $filter query option.")

    def function(self, name: _Token) -> _Node:
        if name.text not in _FUNCTIONS:
            raise QueryError(f"An unknown function with name '{name.text}' was found.")
        parameter_types, result_type, implementation = _FUNCTIONS[name.text]
        self.expect("(")
        arguments = [self.or_expr()]
        while self.peek().text == ",":
            self.next()
            arguments.append(self.or_expr())
        self.expect(")")
        if tuple(a.type for a in arguments) != parameter_types:
            raise QueryError(f"The function '{name.text}' takes arguments of types "
                              f"({', '.join(_EDM_NAMES[t] for t in parameter_types)}), found "
                              f"({', '.join(_EDM_NAMES[a.type] for a in arguments)}).")

        def evaluate(row: Row) -> Any:
            values = [a.evaluate(row) for a in arguments]
            if any(v is None for v in values):
                return None if result_type != "bool" else False
            return implementation(*values)

        return _Node(result_type, evaluate)


def _comparable(left: str, right: str) -> bool:
    return left == right or "null" in (left, right)


def _parse_number(text: str) -> int | Decimal:
    digits = text.rstrip("mMdDfFlL")
    return Decimal(digits) if "." in digits or digits != text else int(digits)


def _parse_datetime(text: str, filter_text: str | None) -> datetime:
    value = text[len("datetime'"):-1] if text.startswith("datetime'") else text
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise QueryError(f"The date and time '{value}' in '{filter_text}' is not valid.") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
