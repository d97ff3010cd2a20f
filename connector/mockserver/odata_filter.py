"""A small OData `$filter` parser that compiles to a Python predicate over row dicts."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from . import errors
from .errors import ApiError, bad_request

Predicate = Callable[[dict[str, object]], bool]
Getter = Callable[[dict[str, object]], object]

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_DATE = r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})?)?"
_TOKEN = re.compile(
    rf"""(?P<ws>\s+)
    |(?P<guid>{_GUID})(?![\w-])
    |(?P<date>{_DATE})(?![\w:])
    |(?P<num>-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?)(?![\w.])
    |(?P<name>[A-Za-z_@$][\w.@/]*)
    |(?P<str>')
    |(?P<dstr>")
    |(?P<punct>[(),=\[\]])""",
    re.VERBOSE,
)
_COMPARE = {"eq", "ne", "gt", "ge", "lt", "le"}
_FUNCS = {"contains", "startswith", "endswith"}


def normalize_date(text: str) -> str:
    """Dates compare as strings in one canonical UTC form, `YYYY-MM-DDTHH:MM:SSZ`."""
    value = text.replace("Z", "+00:00")
    if len(value) == 10:
        value += "T00:00:00+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Tok:
    kind: str
    value: object
    pos: int


class _Date(str):
    """A date literal (compared to row values in canonical form)."""


def tokenize(text: str) -> list[Tok]:
    out: list[Tok] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise bad_request(f"Syntax error at position {pos} in '{text}'.")
        kind = m.lastgroup or ""
        if kind == "dstr":
            # A JSON string (inside a collection literal): backslash escapes, not doubling.
            i = m.end()
            while i < len(text) and text[i] != '"':
                i += 2 if text[i] == "\\" else 1
            try:
                value = json.loads(text[pos : i + 1])
            except ValueError:
                raise bad_request(
                    f"There is an unterminated literal at position {pos} in '{text}'."
                ) from None
            out.append(Tok("str", value, pos))
            pos = i + 1
            continue
        if kind == "str":
            quote = "'"
            i, buf = m.end(), []
            while True:
                if i >= len(text):
                    raise bad_request(
                        f"There is an unterminated literal at position {pos} in '{text}'."
                    )
                if text[i] == quote:
                    if text[i + 1 : i + 2] == quote:
                        buf.append(quote)
                        i += 2
                        continue
                    break
                buf.append(text[i])
                i += 1
            out.append(Tok("str", "".join(buf), pos))
            pos = i + 1
            continue
        raw = m.group(kind)
        if kind == "guid":
            out.append(Tok("guid", raw.lower(), pos))
        elif kind == "date":
            try:
                out.append(Tok("date", _Date(normalize_date(raw)), pos))
            except ValueError:
                raise bad_request(f"Invalid date literal '{raw}' at position {pos}.") from None
        elif kind == "num":
            out.append(Tok("num", float(raw) if any(c in raw for c in ".eE") else int(raw), pos))
        elif kind == "name":
            out.append(Tok("name", raw, pos))
        elif kind == "punct":
            out.append(Tok(raw, raw, pos))
        pos = m.end()
    return out


def _lower(v: object) -> object:
    return v.lower() if isinstance(v, str) else v


def compare(op: str, left: object, right: object) -> bool:
    left, right = _lower(left), _lower(right)
    if op == "eq":
        return left == right
    if op == "ne":
        return left != right
    if left is None or right is None:
        return False
    try:
        if op == "gt":
            return left > right  # type: ignore[operator]
        if op == "ge":
            return left >= right  # type: ignore[operator]
        if op == "lt":
            return left < right  # type: ignore[operator]
        return left <= right  # type: ignore[operator]
    except TypeError:
        return False


class _Parser:
    def __init__(self, text: str, columns: Collection[str], logical: str) -> None:
        self.user_id = ""
        self.now = ""
        self.text = text
        self.toks = tokenize(text)
        self.i = 0
        self.columns = columns
        self.logical = logical

    def peek(self) -> Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, kind: str | None = None, value: str | None = None) -> Tok:
        tok = self.peek()
        if tok is None:
            raise bad_request(f"Unexpected end of $filter expression '{self.text}'.")
        if (kind and tok.kind != kind) or (value and tok.value != value):
            raise bad_request(
                f"Syntax error at position {tok.pos} in '{self.text}': unexpected '{tok.value}'."
            )
        self.i += 1
        return tok

    def is_word(self, word: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "name" and tok.value == word

    def parse(self) -> Predicate:
        pred = self.or_expr()
        if self.peek() is not None:
            tok = self.peek()
            assert tok is not None
            raise bad_request(
                f"Syntax error at position {tok.pos} in '{self.text}': unexpected '{tok.value}'."
            )
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.is_word("or"):
            self.i += 1
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else (lambda r: any(p(r) for p in parts))

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.is_word("and"):
            self.i += 1
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else (lambda r: all(p(r) for p in parts))

    def unary(self) -> Predicate:
        if self.is_word("not"):
            self.i += 1
            inner = self.unary()
            return lambda r: not inner(r)
        return self.comparison()

    def comparison(self) -> Predicate:
        tok = self.peek()
        if tok is not None and tok.kind == "(":
            self.i += 1
            inner = self.or_expr()
            self.take(")")
            return inner
        if tok is not None and tok.kind == "name" and tok.value in _FUNCS:
            return self.function()
        if tok is not None and tok.kind == "name" and str(tok.value).startswith(
                "Microsoft.Dynamics.CRM."):
            return self.query_function()
        nxt = self.toks[self.i + 1] if self.i + 1 < len(self.toks) else None
        if tok is not None and tok.kind == "name" and nxt is not None and nxt.kind == "(":
            # Query functions (Microsoft.Dynamics.CRM.LastXDays ...), lambdas (nav/any),
            # tolower, year ...: refused by name rather than misread as a property.
            raise errors.not_implemented(f"the $filter function '{tok.value}'")
        left = self.operand()
        op_tok = self.peek()
        if op_tok is None or op_tok.kind != "name" or op_tok.value not in _COMPARE:
            if op_tok is None:
                raise bad_request(f"Expected a comparison operator at the end of '{self.text}'.")
            raise bad_request(
                f"Syntax error at position {op_tok.pos} in '{self.text}': expected one of "
                "eq, ne, gt, ge, lt, le."
            )
        self.i += 1
        right = self.operand()
        op = str(op_tok.value)
        return lambda r: compare(op, left(r), right(r))

    def property(self, name: str) -> Getter:
        head, _, path = name.partition("/")
        if head not in self.columns:
            raise bad_request(
                f"Could not find a property named '{head}' on type "
                f"'Microsoft.Dynamics.CRM.{self.logical}'."
            )
        if path:  # a complex value such as `CanChangeTrackingBeEnabled/Value` (metadata)
            parts = path.split("/")

            def walk(r: dict[str, object]) -> object:
                value: object = r.get(head)
                for part in parts:
                    value = value.get(part) if isinstance(value, dict) else None
                return value

            return walk
        return lambda r: r.get(name)

    def operand(self) -> Getter:
        tok = self.take()
        if tok.kind == "name":
            nxt = self.peek()
            if nxt is not None and nxt.kind == "str" and "." in str(tok.value):
                # An enum literal: Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'.
                self.i += 1
                member = nxt.value
                return lambda r: member
            if tok.value == "null":
                return lambda r: None
            if tok.value in ("true", "false"):
                val = tok.value == "true"
                return lambda r: val
            return self.property(str(tok.value))
        if tok.kind in ("str", "guid", "num", "date"):
            val = tok.value
            return lambda r: val
        raise bad_request(f"Syntax error at position {tok.pos} in '{self.text}'.")

    def function(self) -> Predicate:
        name = str(self.take("name").value)
        self.take("(")
        prop = self.operand()
        self.take(",")
        arg_tok = self.take()
        if arg_tok.kind != "str":
            raise bad_request(f"Function '{name}' needs a string literal in '{self.text}'.")
        self.take(")")
        needle = str(arg_tok.value).lower()
        if name == "contains":
            if needle.startswith("%"):
                raise bad_request("Leading wildcards are not supported in contains.")
            return lambda r: isinstance(v := prop(r), str) and needle in v.lower()
        if name == "startswith":
            return lambda r: isinstance(v := prop(r), str) and v.lower().startswith(needle)
        return lambda r: isinstance(v := prop(r), str) and v.lower().endswith(needle)

    def query_function(self) -> Predicate:
        """`Microsoft.Dynamics.CRM.<Function>(PropertyName='x',PropertyValue(s)=...)`."""
        name = str(self.take("name").value).rsplit(".", 1)[-1]
        self.take("(")
        args: dict[str, object] = {}
        while self.peek() is not None and self.peek().kind != ")":  # type: ignore[union-attr]
            key = str(self.take("name").value)
            self.take("=")
            if self.peek() is not None and self.peek().kind == "[":  # type: ignore[union-attr]
                self.i += 1
                values = []
                while self.peek() is not None and self.peek().kind != "]":  # type: ignore[union-attr]
                    values.append(self.take().value)
                    if self.peek() is not None and self.peek().kind == ",":  # type: ignore[union-attr]
                        self.i += 1
                self.take("]")
                args[key] = values
            else:
                args[key] = self.take().value
            if self.peek() is not None and self.peek().kind == ",":  # type: ignore[union-attr]
                self.i += 1
        self.take(")")
        prop_name = args.get("PropertyName")
        if not isinstance(prop_name, str):
            raise bad_request(f"Microsoft.Dynamics.CRM.{name} needs a PropertyName.")
        getter = self.property(prop_name)
        return query_function(name, getter, args, self.user_id, self.now)


def _day(text: object, days: int = 0) -> str:
    moment = datetime.strptime(str(text)[:10], "%Y-%m-%d") + timedelta(days=days)
    return moment.strftime("%Y-%m-%d")


def query_function(
    name: str, getter: Getter, args: dict[str, object], user_id: str, now: str
) -> Predicate:
    """The Dataverse query functions integrations use most; dates compare in UTC."""
    values = args.get("PropertyValues")
    value = args.get("PropertyValue")
    if name in ("In", "NotIn", "Between", "NotBetween"):
        if not isinstance(values, list) or (name.endswith("Between") and len(values) != 2):
            raise bad_request(f"Microsoft.Dynamics.CRM.{name} needs PropertyValues.")
        if name.endswith("In"):
            wanted = {str(v).lower() for v in values}
            keep = name == "In"
            return lambda r: (v := getter(r)) is not None and (str(v).lower() in wanted) == keep
        low, high = (_lower(v) for v in values)
        keep = name == "Between"
        return lambda r: (v := getter(r)) is not None and (
            compare("ge", v, low) and compare("le", v, high)) == keep
    if name in ("EqualUserId", "NotEqualUserId"):
        keep = name == "EqualUserId"
        return lambda r: (getter(r) == user_id) == keep
    if name in ("Today", "Yesterday", "Tomorrow"):
        day = _day(now, {"Today": 0, "Yesterday": -1, "Tomorrow": 1}[name])
        return lambda r: (v := getter(r)) is not None and str(v)[:10] == day
    if name in ("On", "OnOrAfter", "OnOrBefore"):
        day = _day(value)
        if name == "On":
            return lambda r: (v := getter(r)) is not None and str(v)[:10] == day
        after = name == "OnOrAfter"
        return lambda r: (v := getter(r)) is not None and (
            str(v)[:10] >= day if after else str(v)[:10] <= day)
    spans = {"LastXDays": ("days", -1), "NextXDays": ("days", 1),
             "LastXHours": ("hours", -1), "NextXHours": ("hours", 1)}
    if name in spans:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad_request(f"Microsoft.Dynamics.CRM.{name} needs a whole PropertyValue.")
        unit, sign = spans[name]
        moment = datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ")
        edge = moment + sign * timedelta(**{unit: value})
        if unit == "days":  # whole days, as Dataverse counts them
            edge = edge.replace(hour=0, minute=0, second=0) if sign < 0 else edge.replace(
                hour=23, minute=59, second=59)
        low, high = sorted([edge.strftime("%Y-%m-%dT%H:%M:%SZ"), now])
        return lambda r: (v := getter(r)) is not None and low <= str(v) <= high
    raise errors.not_implemented(f"the $filter function 'Microsoft.Dynamics.CRM.{name}'")


def compile_filter(
    text: str, columns: Collection[str], logical: str, *, user_id: str = "",
    now: str | None = None,
) -> Predicate:
    """Compile `$filter` text; any mistake raises a 400 ApiError, never a crash. `user_id`
    and `now` (canonical UTC) serve EqualUserId and the date functions."""
    try:
        parser = _Parser(text, columns, logical)
        parser.user_id = user_id
        parser.now = now or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return parser.parse()
    except ApiError:
        raise
    except (ValueError, IndexError, TypeError) as exc:
        raise bad_request(f"Invalid $filter '{text}': {exc}") from None
