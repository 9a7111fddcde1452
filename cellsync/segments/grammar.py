"""Segments: named predicates over a frame's columns, written as text by people.

    age >= 80                      sex == "F" and smoker           income is missing
    region in ["north", "east"]    10 <= bmi < 30                  not (status == "inactive")

Text is parsed by a small recursive-descent grammar into a spec (plain JSON) and evaluated
with vectorised pandas operations. Nothing a user typed is ever passed to `eval`,
`DataFrame.query` or `DataFrame.eval`: the only things text can become are column names
(checked against the frame) and literals (numbers, strings, booleans).

Grammar:
    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" expr ")" | predicate
    predicate  := operand (CMP operand)+          chained: 10 <= bmi < 30
                | column "is" ["not"] "missing"
                | column ["not"] "in" "[" literal ("," literal)* "]"
                | column                          a boolean column: smoker
    operand    := column | literal
    column     := NAME | `any text in backquotes`
    literal    := NUMBER | "string" | 'string' | true | false
    CMP        := == | = | != | < | <= | > | >=
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any


from ..errors import CellsyncError


class SegmentError(CellsyncError):
    """Segment text that cannot be parsed, or does not fit the frame it is applied to."""


# --- tokens --------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<bq>`[^`]+`)
  | (?P<op><=|>=|==|!=|<|>|=)
  | (?P<punct>[()\[\],])
  | (?P<name>[A-Za-z_][A-Za-z0-9_.]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "is", "in", "missing", "true", "false"}
_FLIP = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_NEGATE = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}


@dataclass(frozen=True)
class _Tok:
    kind: str  # num | str | col | op | punct | kw | end
    value: Any
    pos: int


def _tokenize(text: str) -> list[_Tok]:
    toks, pos = [], 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise SegmentError(f"unexpected {text[pos]!r} at position {pos + 1} in {text!r}")
        kind = m.lastgroup
        raw = m.group(kind)
        if kind == "num":
            toks.append(_Tok("num", float(raw) if re.search(r"[.eE]", raw) else int(raw), pos))
        elif kind == "str":
            toks.append(_Tok("str", _unquote(raw), pos))
        elif kind == "bq":
            toks.append(_Tok("col", raw[1:-1], pos))
        elif kind in ("op", "punct"):
            toks.append(_Tok(kind, raw, pos))
        elif kind == "name":
            low = raw.lower()
            toks.append(_Tok("kw", low, pos) if low in _KEYWORDS else _Tok("col", raw, pos))
        pos = m.end()
    toks.append(_Tok("end", None, len(text)))
    return toks


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


# --- parser --------------------------------------------------------------------------------


MAX_DEPTH = 32  # nested parentheses / "not": far beyond any real segment, far below Python's stack


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.toks = _tokenize(text)
        self.i = 0
        self.depth = 0

    def deeper(self, tok: _Tok | None) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            where = f" at position {tok.pos + 1}" if tok is not None else ""
            raise SegmentError(f"a segment nested more than {MAX_DEPTH} deep (parentheses or 'not'){where} is not supported")

    def peek(self) -> _Tok:
        return self.toks[self.i]

    def take(self) -> _Tok:
        tok = self.toks[self.i]
        self.i += 1
        return tok

    def accept(self, kind, value=None) -> _Tok | None:
        tok = self.peek()
        if tok.kind == kind and (value is None or tok.value == value):
            return self.take()
        return None

    def expect(self, kind, value=None, what=None) -> _Tok:
        tok = self.accept(kind, value)
        if tok is None:
            got = self.peek()
            shown = "the end" if got.kind == "end" else repr(got.value)
            raise SegmentError(f"expected {what or value or kind} at position {got.pos + 1}, found {shown}, in {self.text!r}")
        return tok

    def parse(self) -> dict:
        if self.peek().kind == "end":
            raise SegmentError("a segment needs a condition, e.g. age >= 80")
        spec = self.expr()
        if self.peek().kind != "end":
            tok = self.peek()
            raise SegmentError(f"unexpected {tok.value!r} at position {tok.pos + 1} in {self.text!r}")
        return spec

    def expr(self) -> dict:
        args = [self.and_expr()]
        while self.accept("kw", "or"):
            args.append(self.and_expr())
        return args[0] if len(args) == 1 else {"op": "or", "args": args}

    def and_expr(self) -> dict:
        args = [self.not_expr()]
        while self.accept("kw", "and"):
            args.append(self.not_expr())
        return args[0] if len(args) == 1 else {"op": "and", "args": args}

    def not_expr(self) -> dict:
        tok = self.accept("kw", "not")
        if tok:
            self.deeper(tok)
            arg = self.not_expr()
            self.depth -= 1
            return {"op": "not", "arg": arg}
        return self.primary()

    def primary(self) -> dict:
        tok = self.accept("punct", "(")
        if tok:
            self.deeper(tok)
            inner = self.expr()
            self.expect("punct", ")", "')'")
            self.depth -= 1
            return inner
        return self.predicate()

    def operand(self) -> tuple[str, Any]:
        tok = self.peek()
        if tok.kind == "col":
            return "col", self.take().value
        if tok.kind in ("num", "str"):
            return "lit", self.take().value
        if tok.kind == "kw" and tok.value in ("true", "false"):
            return "lit", self.take().value == "true"
        shown = "the end" if tok.kind == "end" else repr(tok.value)
        raise SegmentError(f"expected a column or a value at position {tok.pos + 1}, found {shown}, in {self.text!r}")

    def literal_list(self) -> list:
        self.expect("punct", "[", "'['")
        values = []
        if not self.accept("punct", "]"):
            while True:
                kind, value = self.operand()
                if kind != "lit":
                    raise SegmentError(f"lists hold values, not columns ({value!r}) in {self.text!r}")
                values.append(value)
                if self.accept("punct", "]"):
                    break
                self.expect("punct", ",", "',' or ']'")
        return values

    def predicate(self) -> dict:
        first = self.operand()
        if first[0] == "col":
            column = first[1]
            if self.accept("kw", "is"):
                negate = bool(self.accept("kw", "not"))
                self.expect("kw", "missing", "'missing'")
                return {"op": "missing", "column": column, "negate": negate}
            if self.peek().kind == "kw" and self.peek().value == "not" and self.toks[self.i + 1].value == "in":
                self.take()
                self.take()
                return {"op": "in", "column": column, "values": self.literal_list(), "negate": True}
            if self.accept("kw", "in"):
                return {"op": "in", "column": column, "values": self.literal_list(), "negate": False}
        if self.peek().kind != "op":
            if first[0] == "col":
                return {"op": "truthy", "column": first[1]}
            raise SegmentError(f"a value alone ({first[1]!r}) is not a condition, in {self.text!r}")
        comparisons, left = [], first
        while self.peek().kind == "op":
            op = self.take().value
            op = "==" if op == "=" else op
            right = self.operand()
            comparisons.append(_comparison(left, op, right, self.text))
            left = right
        return comparisons[0] if len(comparisons) == 1 else {"op": "and", "args": comparisons}


def _comparison(left, op, right, text) -> dict:
    if left[0] == "col" and right[0] == "lit":
        return {"op": "cmp", "column": left[1], "cmp": op, "value": right[1]}
    if left[0] == "lit" and right[0] == "col":
        return {"op": "cmp", "column": right[1], "cmp": _FLIP[op], "value": left[1]}
    if left[0] == "col" and right[0] == "col":
        return {"op": "cmpcol", "column": left[1], "cmp": op, "other": right[1]}
    raise SegmentError(f"comparing two values ({left[1]!r} {op} {right[1]!r}) says nothing about rows, in {text!r}")


def parse(text: str) -> dict:
    """Segment text -> spec. Raises SegmentError with where and what went wrong."""
    if not isinstance(text, str):
        raise SegmentError(f"a segment is text, not {type(text).__name__}")
    if len(text) > 2000:
        raise SegmentError("a segment of more than 2,000 characters is not a segment")
    return _Parser(text).parse()


# --- text from a spec (round trip) ---------------------------------------------------------


def _col_text(name: str) -> str:
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", name) and name.lower() not in _KEYWORDS:
        return name
    return f"`{name}`"


def _lit_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(str(value), ensure_ascii=False)


def to_text(spec: dict, _nested: bool = False) -> str:
    op = spec["op"]
    if op in ("and", "or"):
        inner = f" {op} ".join(to_text(a, True) for a in spec["args"])
        return f"({inner})" if _nested else inner
    if op == "not":
        return f"not {to_text(spec['arg'], True)}"
    if op == "cmp":
        return f"{_col_text(spec['column'])} {spec['cmp']} {_lit_text(spec['value'])}"
    if op == "cmpcol":
        return f"{_col_text(spec['column'])} {spec['cmp']} {_col_text(spec['other'])}"
    if op == "missing":
        return f"{_col_text(spec['column'])} is {'not ' if spec['negate'] else ''}missing"
    if op == "in":
        values = ", ".join(_lit_text(v) for v in spec["values"])
        return f"{_col_text(spec['column'])} {'not in' if spec['negate'] else 'in'} [{values}]"
    if op == "truthy":
        return _col_text(spec["column"])
    raise SegmentError(f"unknown segment operation {op!r}")


def columns_of(spec: dict) -> list[str]:
    out: list[str] = []

    def walk(s):
        if s["op"] in ("and", "or"):
            for a in s["args"]:
                walk(a)
        elif s["op"] == "not":
            walk(s["arg"])
        else:
            for key in ("column", "other"):
                if key in s and s[key] not in out:
                    out.append(s[key])

    walk(spec)
    return out

