"""A small, safe expression language for flow authors: guards (`when:`) and `{{ ... }}` in texts.

Sources are parsed once at start-up with `ast.parse(mode="eval")`; only a whitelist of node
types is accepted and compiled into a tree of small closures, so evaluating per message costs
a few function calls and nothing is ever handed to `eval`, `exec` or `compile`.

The language
    literals      4  2.5  'text'  "text"  true false null  (also True False None)  [a, b]
    names         rating  order.total  order["total"]  items[0]  code[0:3]
    arithmetic    + - * / // %  on numbers; + also joins two texts; unary - + not
    comparisons   == != < <= > >=  (chains: 1 <= x < 5)  in  not in
    logic         and  or  (return an operand, as in Python)  a if cond else b
    functions     len lower upper trim int float str round abs min max
                  contains(hay, needle) startswith(s, prefix) endswith(s, suffix)
                  default(x, fallback)

Evaluation rarely fails, and when it does it raises `ExprError` and nothing else:
- A name the data lacks, and a dotted key, index or field that is missing, is `null` (None).
- Ordering (`< <= > >=`) works between two numbers or two texts; any other pair is false.
- A text that reads as a number is compared as that number when the other side is a number
  (`"4" > 3` and `"4" == 4` are true): answers collected from customers arrive as text. The
  coercion applies to comparisons, `in`, `contains` and `min`/`max`, never to arithmetic.
- `in`/`contains`: a text in a text is a substring test, a value in a list compares each item
  as `==` does, a text in a record tests its keys; any other pair is false.
- Arithmetic needs numbers (booleans are not numbers); `+` also joins two texts. A missing
  value, a type mismatch or a division by zero raises `ExprError` naming the sub-expression.
- `int()`/`float()` return null for what is not a number, so `int(answer) != null` tests it.
  `lower`/`upper`/`trim`/`round`/`abs` keep null as null; `len(null)` is 0.
- `str()` and `{{ }}` show values alike: null as "", true/false as "yes"/"no", 3.0 as "3".
- `default(x, fallback)` is `fallback` when `x` is null or the empty text.
- `round` rounds halves to even, as Python does (`round(2.5)` is 2); `min`/`max` take values
  or one list, skip nulls, and give null when nothing is left.
- Truthiness (`and`, `or`, `not`, `if`, guards) is Python's: null, false, 0, "" and empty
  lists or records are false; everything else, including the text "0", is true.
- `true`, `false` and `null` are constants; a variable with one of those names is unreachable.

Limits: a source longer than 1000 characters or nested deeper than 32 levels is rejected at
parse time; a text built by `+`, `str`, `lower`, `upper` or `trim` longer than 10,000
characters raises. Only numbers multiply, so `"x" * 10**9` cannot be written.
"""

from __future__ import annotations

import ast
import difflib
import json
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.errors import ExprError

MAX_SOURCE = 1000
MAX_DEPTH = 32
MAX_TEXT = 10_000

Env = Mapping[str, Any]
Fn = Callable[[Env], Any]


# --- values ----------------------------------------------------------------------------------

_CONSTANT_NAMES: Mapping[str, Any] = {"true": True, "false": False, "null": None}
_NUMBER = re.compile(r"\s*[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?\s*")
_INTEGER = re.compile(r"\s*[+-]?\d+\s*")


def _is_number(value: Any) -> bool:
    t = type(value)
    if t is int or t is float:
        return True
    return isinstance(value, int | float) and not isinstance(value, bool)


def _parse_number(text: str) -> int | float | None:
    """The number a text spells ("4", " 2.5 ", "-1e3"), or None; "inf", "nan", "1_0" are not."""
    if len(text) > 100 or not _NUMBER.fullmatch(text):
        return None
    try:
        return int(text) if _INTEGER.fullmatch(text) else float(text)
    except ValueError:  # digits outside the ASCII range that int() refuses, e.g. "²"
        return None


def truthy(value: Any) -> bool:
    """Whether a guard's value counts as true: Python truthiness (null, false, 0, "" are not)."""
    if value is True:
        return True
    if value is None or value is False:
        return False
    try:
        return bool(value)
    except Exception as e:  # a foreign object whose __bool__ raises
        raise ExprError(
            repr(value)[:80], f"cannot tell whether a {type(value).__name__} is true or false"
        ) from e


def show(value: Any) -> str:
    """How a value shows in a text: null as "", booleans as yes/no, 3.0 as "3", a list as
    its items shown with ", " between them, a record (a photo a customer sent, a call's
    answer) as JSON: never Python's own notation."""
    if type(value) is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    if isinstance(value, list | tuple):
        return ", ".join(_json(v) if isinstance(v, Mapping | list | tuple) else show(v)
                         for v in value)  # fmt: skip
    if isinstance(value, Mapping):
        return _json(value)
    return str(value)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=show)


def _describe(value: Any) -> str:
    """A value as named in an error message."""
    if value is None:
        return "nothing (a missing value)"
    if isinstance(value, bool):
        return f"the yes/no value {value}"
    if _is_number(value):
        return f"the number {show(value)}"
    if isinstance(value, str):
        shown = value if len(value) <= 20 else value[:20] + "..."
        return f'the text "{shown}"'
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "a record"
    return f"a {type(value).__name__}"


def _order_pair(a: Any, b: Any) -> tuple[Any, Any] | None:
    """`a` and `b` ready to order: numbers, texts, or a number and a numeric text; else None."""
    ta, tb = type(a), type(b)
    if (ta is int or ta is float) and (tb is int or tb is float):
        return a, b
    if ta is str and tb is str:
        return a, b
    if _is_number(a):
        if _is_number(b):
            return a, b
        if isinstance(b, str):
            n = _parse_number(b)
            return None if n is None else (a, n)
        return None
    if isinstance(a, str):
        if isinstance(b, str):
            return a, b
        if _is_number(b):
            n = _parse_number(a)
            return None if n is None else (n, b)
    return None


def _eq(a: Any, b: Any) -> bool:
    ta, tb = type(a), type(b)
    if ta is tb:
        return bool(a == b)
    if isinstance(a, str) and _is_number(b):
        return bool(_parse_number(a) == b)
    if isinstance(b, str) and _is_number(a):
        return bool(a == _parse_number(b))
    return bool(a == b)


def _lt(a: Any, b: Any) -> bool:
    p = _order_pair(a, b)
    return p is not None and bool(p[0] < p[1])


def _le(a: Any, b: Any) -> bool:
    p = _order_pair(a, b)
    return p is not None and bool(p[0] <= p[1])


def _gt(a: Any, b: Any) -> bool:
    p = _order_pair(a, b)
    return p is not None and bool(p[0] > p[1])


def _ge(a: Any, b: Any) -> bool:
    p = _order_pair(a, b)
    return p is not None and bool(p[0] >= p[1])


def _contains(hay: Any, needle: Any) -> bool:
    """`needle in hay` in this language; pairs that do not fit are simply false."""
    if isinstance(hay, str):
        return isinstance(needle, str) and needle in hay
    if isinstance(hay, list | tuple):
        return any(_eq(needle, item) for item in hay)
    if isinstance(hay, Mapping) and isinstance(needle, str):
        return needle in hay
    return False


_COMPARE: Mapping[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: _eq,
    ast.NotEq: lambda a, b: not _eq(a, b),
    ast.Lt: _lt,
    ast.LtE: _le,
    ast.Gt: _gt,
    ast.GtE: _ge,
    ast.In: lambda a, b: _contains(b, a),
    ast.NotIn: lambda a, b: not _contains(b, a),
}

Key = str | int | slice


def _step(value: Any, key: Key) -> Any:
    """One step of a dotted or indexed lookup; whatever does not fit is None."""
    if isinstance(key, str):
        if type(value) is dict or isinstance(value, Mapping):
            return value.get(key)
        return None
    if isinstance(key, slice):
        return value[key] if isinstance(value, list | tuple | str) else None
    if isinstance(value, list | tuple | str):
        return value[key] if -len(value) <= key < len(value) else None
    if isinstance(value, Mapping):
        return value.get(key)
    return None


# --- where a node sits, for error messages -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Site:
    source: str
    text: str
    column: int | None

    def error(self, message: str) -> ExprError:
        return ExprError(self.source, message, self.column)

    def too_long(self, value: Any) -> Any:
        if isinstance(value, str) and len(value) > MAX_TEXT:
            raise self.error(f"`{self.text}` makes a text longer than {MAX_TEXT:,} characters")
        return value


# --- arithmetic --------------------------------------------------------------------------------

_VERBS: Mapping[type[ast.operator], str] = {
    ast.Add: "add",
    ast.Sub: "subtract",
    ast.Mult: "multiply",
    ast.Div: "divide",
    ast.FloorDiv: "divide",
    ast.Mod: "take the remainder of",
}
_ARITH: Mapping[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.FloorDiv: lambda a, b: a // b,
    ast.Mod: lambda a, b: a % b,
}


def _mismatch(site: _Site, verb: str, a: Any, b: Any) -> ExprError:
    message = f"cannot {verb} {_describe(a)} and {_describe(b)} in `{site.text}`"
    if a is None or b is None:
        message += ": a value is missing; give a fallback with default(x, 0)"
    elif any(isinstance(v, str) and _parse_number(v) is not None for v in (a, b)):
        message += ": turn text into a number with int(...) or float(...)"
    elif verb == "multiply":
        message += ": only numbers can be multiplied"
    return site.error(message)


def _binop(op: type[ast.operator], left: Fn, right: Fn, site: _Site) -> Fn:
    apply = _ARITH[op]
    verb = _VERBS[op]
    is_add = op is ast.Add

    def run(env: Env) -> Any:
        a = left(env)
        b = right(env)
        if _is_number(a) and _is_number(b):
            try:
                return apply(a, b)
            except ZeroDivisionError as e:
                raise site.error(f"division by zero in `{site.text}`") from e
            except ArithmeticError as e:  # e.g. an int too large to turn into a float
                raise site.error(f"the number is too large in `{site.text}`") from e
        if is_add and isinstance(a, str) and isinstance(b, str):
            if len(a) + len(b) > MAX_TEXT:
                raise site.error(f"`{site.text}` makes a text longer than {MAX_TEXT:,} characters")
            return a + b
        raise _mismatch(site, verb, a, b)

    return run


# --- functions ---------------------------------------------------------------------------------

Impl = Callable[[list[Any], _Site], Any]


def _fn_len(args: list[Any], site: _Site) -> Any:
    (x,) = args
    if x is None:
        return 0
    if isinstance(x, str | list | tuple | Mapping):
        return len(x)
    raise site.error(
        f"len() needs a text or a list, not {_describe(x)}: for digits use len(str(x))"
    )


def _text_fn(op: Callable[[str], str]) -> Impl:
    def run(args: list[Any], site: _Site) -> Any:
        (x,) = args
        return None if x is None else site.too_long(op(show(x)))

    return run


def _fn_int(args: list[Any], site: _Site) -> Any:
    (x,) = args
    if isinstance(x, str):
        x = _parse_number(x)
    if isinstance(x, int):  # booleans count: int(true) is 1
        return int(x)
    if isinstance(x, float):
        try:
            return int(x)
        except (OverflowError, ValueError):  # inf, nan
            return None
    return None


def _fn_float(args: list[Any], site: _Site) -> Any:
    (x,) = args
    if isinstance(x, str):
        x = _parse_number(x)
    if not isinstance(x, int | float):  # booleans count: float(true) is 1.0
        return None
    try:
        return float(x)
    except OverflowError:
        return None


def _fn_str(args: list[Any], site: _Site) -> Any:
    return site.too_long(show(args[0]))


def _number_arg(fname: str, x: Any, site: _Site) -> Any:
    if not _is_number(x):
        raise site.error(f"{fname}() needs a number, not {_describe(x)}")
    return x


def _fn_round(args: list[Any], site: _Site) -> Any:
    x = args[0]
    if x is None:
        return None
    _number_arg("round", x, site)
    try:
        if len(args) == 1:
            return round(x)
        digits = args[1]
        if not (type(digits) is int and -20 <= digits <= 20):
            raise site.error("round(x, digits) needs a whole number of digits from -20 to 20")
        return round(x, digits)
    except (OverflowError, ValueError) as e:  # inf, nan
        raise site.error(f"cannot round {_describe(x)}") from e


def _fn_abs(args: list[Any], site: _Site) -> Any:
    (x,) = args
    return None if x is None else abs(_number_arg("abs", x, site))


def _extreme(fname: str, pick: Callable[..., Any]) -> Impl:
    def run(args: list[Any], site: _Site) -> Any:
        items = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
        values = [v for v in items if v is not None]
        if not values:
            return None
        if all(_is_number(v) for v in values) or all(isinstance(v, str) for v in values):
            return pick(values)
        keys = [
            v if _is_number(v) else _parse_number(v) if isinstance(v, str) else None for v in values
        ]
        if any(k is None for k in keys):
            raise site.error(f"{fname}() needs all numbers or all texts in `{site.text}`")
        return values[keys.index(pick(keys))]

    return run


def _fn_contains(args: list[Any], site: _Site) -> Any:
    return _contains(args[0], args[1])


def _affix(check: Callable[[str, str], bool]) -> Impl:
    def run(args: list[Any], site: _Site) -> Any:
        s, part = args
        if s is None or part is None:
            return False
        return check(show(s), show(part))

    return run


def _fn_default(args: list[Any], site: _Site) -> Any:
    x, fallback = args
    return fallback if x is None or (isinstance(x, str) and not x) else x


# name -> (fewest args, most args or None for any, implementation)
_FUNCTIONS: Mapping[str, tuple[int, int | None, Impl]] = {
    "len": (1, 1, _fn_len),
    "lower": (1, 1, _text_fn(str.lower)),
    "upper": (1, 1, _text_fn(str.upper)),
    "trim": (1, 1, _text_fn(str.strip)),
    "int": (1, 1, _fn_int),
    "float": (1, 1, _fn_float),
    "str": (1, 1, _fn_str),
    "round": (1, 2, _fn_round),
    "abs": (1, 1, _fn_abs),
    "min": (1, None, _extreme("min", min)),
    "max": (1, None, _extreme("max", max)),
    "contains": (2, 2, _fn_contains),
    "startswith": (2, 2, _affix(str.startswith)),
    "endswith": (2, 2, _affix(str.endswith)),
    "default": (2, 2, _fn_default),
}
_KNOWN = ", ".join(sorted(_FUNCTIONS))
# Names authors reach for that mean one of ours, or that we deliberately lack.
_FUNCTION_HINTS: Mapping[str, str] = {
    "strip": "write trim(x)",
    "length": "write len(x)",
    "lowercase": "write lower(x)",
    "uppercase": "write upper(x)",
    "now": "the current time is not a function: the flow receives it as a variable",
}


# --- parse-time rejections ---------------------------------------------------------------------

_REJECTED: Mapping[type[ast.AST], str] = {
    ast.Lambda: "`lambda` is not allowed",
    ast.ListComp: "`for` inside an expression is not allowed",
    ast.SetComp: "`for` inside an expression is not allowed",
    ast.DictComp: "`for` inside an expression is not allowed",
    ast.GeneratorExp: "`for` inside an expression is not allowed",
    ast.NamedExpr: "`:=` is not allowed: to compare use ==",
    ast.JoinedStr: "f-strings are not allowed: join texts with + or use {{ }} in the text",
    ast.Set: "`{...}` is not allowed: for a list write [a, b]",
    ast.Dict: "`{...}` is not allowed: for a list write [a, b]",
    ast.Tuple: "`(a, b)` is not allowed: for a list write [a, b]",
    ast.Starred: "`*` before a value is not allowed",
    ast.Await: "`await` is not allowed",
    ast.Yield: "`yield` is not allowed",
    ast.YieldFrom: "`yield` is not allowed",
}
_REJECTED_OPS: Mapping[type[ast.AST], str] = {
    ast.Pow: "`**` (power) is not supported: multiply with *",
    ast.MatMult: "`@` is not supported",
    ast.BitAnd: "`&` is not supported: to require both conditions use and",
    ast.BitOr: "`|` is not supported: to accept either condition use or",
    ast.BitXor: "`^` is not supported",
    ast.LShift: "`<<` is not supported",
    ast.RShift: "`>>` is not supported",
    ast.Invert: "`~` is not supported: to negate use not",
    ast.Is: "`is` is not supported: to compare use ==",
    ast.IsNot: "`is not` is not supported: to compare use !=",
}

_TOO_DEEP = f"the expression is nested too deeply (more than {MAX_DEPTH} levels): split it up"

# After Python's parser gives up: common slips from other languages and spreadsheets.
_STRING_LITERAL = re.compile(r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*\"""")
_SLIPS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"==="), "unexpected `===`: to compare use =="),
    (re.compile(r":="), "`:=` is not allowed: to compare use =="),
    (re.compile(r"=>"), "unexpected `=>`: write >="),
    (re.compile(r"=<"), "unexpected `=<`: write <="),
    (re.compile(r"<>"), "unexpected `<>`: to test for a difference use !="),
    (re.compile(r"&&"), "unexpected `&&`: to require both conditions use and"),
    (re.compile(r"\|\|"), "unexpected `||`: to accept either condition use or"),
    (re.compile(r"!(?!=)"), "unexpected `!`: to negate use not"),
    (re.compile(r"(?<![=!<>:])=(?!=)"), "unexpected `=`: to compare use =="),
)


def _mask_strings(text: str) -> str:
    return _STRING_LITERAL.sub(lambda m: m[0][0] + " " * (len(m[0]) - 2) + m[0][-1], text)


def _syntax_problem(text: str, e: SyntaxError) -> tuple[str, int | None]:
    """A message and column for a failed parse of `text`, in words a flow author can act on."""
    msg = e.msg or "invalid syntax"
    if e.offset is None:  # e.g. a null character
        return f"cannot read the expression: {msg}", None
    column = e.offset if e.offset else len(text) + 1
    if msg.startswith("unterminated string"):
        return "a quote is not closed: end the text with the quote it starts with", column
    if msg.endswith("was never closed"):
        return f"`{msg[1]}` is never closed", column
    if msg.startswith("unmatched"):
        return f"unexpected `{msg[-2]}` with nothing to close", column
    if msg.startswith("closing parenthesis"):
        return f"unexpected `{msg[21]}`: it does not close the bracket before it", column
    if "nested parentheses" in msg:
        return _TOO_DEEP, column
    masked = _mask_strings(text)
    for pattern, message in _SLIPS:
        m = pattern.search(masked)
        if m:
            return message, m.start() + 1
    if not e.offset:
        return "the expression ends too early: something is missing at the end", column
    if msg.startswith("invalid syntax"):
        return "this cannot be read here: is an operator, quote or comma missing?", column
    return f"cannot read the expression: {msg}", column


# --- the compiler ------------------------------------------------------------------------------


class _Compiler:
    """Turns a whitelisted AST into closures, collecting the names and paths it reads."""

    def __init__(self, source: str, text: str, shift: int) -> None:
        self.source = source  # as the author wrote it
        self.text = text  # what was parsed: stripped, one line
        self.shift = shift  # characters stripped from the left of `source`
        self.names: set[str] = set()
        self.paths: set[str] = set()

    # positions

    def column(self, node: ast.AST) -> int | None:
        offset = getattr(node, "col_offset", None)
        if offset is None:
            return None
        if not self.text.isascii():
            offset = len(self.text.encode()[:offset].decode(errors="ignore"))
        return int(offset) + 1 + self.shift

    def site(self, node: ast.AST) -> _Site:
        text = ast.get_source_segment(self.text, node) or ""
        return _Site(self.source, text, self.column(node))

    def error(self, node: ast.AST, message: str) -> ExprError:
        return ExprError(self.source, message, self.column(node))

    # dispatch

    def compile(self, node: ast.expr, depth: int) -> Fn:
        if depth > MAX_DEPTH:
            raise self.error(node, _TOO_DEEP)
        method = self._NODES.get(type(node))
        if method is None:
            raise self.error(
                node, _REJECTED.get(type(node), f"`{self.site(node).text}` is not allowed")
            )
        return method(self, node, depth + 1)

    def constant(self, node: ast.Constant, depth: int) -> Fn:
        value = node.value
        if isinstance(value, bytes):
            raise self.error(node, "bytes literals (b'...') are not allowed: write 'text'")
        if not (value is None or isinstance(value, bool | int | float | str)):
            raise self.error(node, f"`{self.site(node).text}` is not allowed")
        return lambda env: value

    def name(self, node: ast.Name, depth: int) -> Fn:
        if node.id in _CONSTANT_NAMES:
            value = _CONSTANT_NAMES[node.id]
            return lambda env: value
        self.check_name(node, node.id)
        self.names.add(node.id)
        self.paths.add(node.id)
        key = node.id
        return lambda env: env.get(key)

    def check_name(self, node: ast.AST, name: str) -> None:
        if name.startswith("__"):
            raise self.error(node, f"names starting with __ are not allowed (`{name}`)")

    def lookup(self, node: ast.Attribute | ast.Subscript, depth: int) -> Fn:
        keys: list[Key] = []
        base: ast.expr = node
        depth -= 1  # the level of `node`; each link of the chain is one more
        while isinstance(base, ast.Attribute | ast.Subscript):
            depth += 1
            if isinstance(base, ast.Attribute):
                self.check_name(base, base.attr)
                keys.append(base.attr)
            else:
                keys.append(self.index(base))
            base = base.value
        keys.reverse()
        if depth > MAX_DEPTH:
            raise self.error(node, _TOO_DEEP)
        if isinstance(base, ast.Name) and base.id not in _CONSTANT_NAMES:
            self.check_name(base, base.id)
            root = base.id
            self.names.add(root)
            named = [root]
            for k in keys:
                if type(k) is not str:
                    break
                named.append(k)
            self.paths.add(".".join(named))
            if len(keys) == 1:
                only = keys[0]
                return lambda env: _step(env.get(root), only)
            path = tuple(keys)

            def get(env: Env) -> Any:
                value = env.get(root)
                for k in path:
                    value = _step(value, k)
                    if value is None:
                        return None
                return value

            return get
        inner = self.compile(base, depth)
        path = tuple(keys)

        def get_from(env: Env) -> Any:
            value = inner(env)
            for k in path:
                value = _step(value, k)
                if value is None:
                    return None
            return value

        return get_from

    def index(self, node: ast.Subscript) -> Key:
        s = node.slice
        if isinstance(s, ast.Slice):
            if s.step is not None:
                raise self.error(s, "slices with a step (`a[::2]`) are not allowed")
            return slice(self.whole(node, s.lower), self.whole(node, s.upper))
        if isinstance(s, ast.Constant) and type(s.value) is str:
            return s.value
        n = self.whole(node, s)
        if n is None:
            raise self.error(s, "inside [ ] write a fixed text or whole number, e.g. order['id']")
        return n

    def whole(self, node: ast.Subscript, s: ast.expr | None) -> int | None:
        """A constant whole number such as `2` or `-1` inside [ ], or None when there is none."""
        if s is None:
            return None
        sign = 1
        if isinstance(s, ast.UnaryOp) and isinstance(s.op, ast.USub | ast.UAdd):
            sign = -1 if isinstance(s.op, ast.USub) else 1
            s = s.operand
        if isinstance(s, ast.Constant) and type(s.value) is int:
            return sign * s.value
        raise self.error(
            s, "inside [ ] write a fixed text or whole number, e.g. order['id'] or items[0]"
        )

    def list_(self, node: ast.List, depth: int) -> Fn:
        items = [self.compile(e, depth) for e in node.elts]
        return lambda env: [f(env) for f in items]

    def unary(self, node: ast.UnaryOp, depth: int) -> Fn:
        if type(node.op) in _REJECTED_OPS:
            raise self.error(node, _REJECTED_OPS[type(node.op)])
        operand = self.compile(node.operand, depth)
        if isinstance(node.op, ast.Not):
            return lambda env: not truthy(operand(env))
        site = self.site(node)
        negate = isinstance(node.op, ast.USub)

        def sign(env: Env) -> Any:
            x = operand(env)
            if not _is_number(x):
                verb = "negate" if negate else "apply + to"
                hint = ": a value is missing" if x is None else ""
                raise site.error(f"cannot {verb} {_describe(x)} in `{site.text}`{hint}")
            return -x if negate else +x

        return sign

    def binop(self, node: ast.BinOp, depth: int) -> Fn:
        op = type(node.op)
        if op not in _ARITH:
            raise self.error(
                node, _REJECTED_OPS.get(op, f"`{self.site(node).text}` is not allowed")
            )
        left = self.compile(node.left, depth)
        right = self.compile(node.right, depth)
        return _binop(op, left, right, self.site(node))

    def boolop(self, node: ast.BoolOp, depth: int) -> Fn:
        parts = [self.compile(v, depth) for v in node.values]
        is_and = isinstance(node.op, ast.And)
        if len(parts) == 2:
            first, second = parts
            if is_and:
                return lambda env: second(env) if truthy(a := first(env)) else a
            return lambda env: a if truthy(a := first(env)) else second(env)

        def run(env: Env) -> Any:
            value = None
            for part in parts:
                value = part(env)
                if truthy(value) is not is_and:
                    return value
            return value

        return run

    def compare(self, node: ast.Compare, depth: int) -> Fn:
        for op in node.ops:
            if type(op) in _REJECTED_OPS:
                raise self.error(node, _REJECTED_OPS[type(op)])
        left = self.compile(node.left, depth)
        rights = [self.compile(c, depth) for c in node.comparators]
        tests = [_COMPARE[type(op)] for op in node.ops]
        if len(tests) == 1:
            test, right = tests[0], rights[0]
            return lambda env: test(left(env), right(env))
        pairs = list(zip(tests, rights, strict=True))

        def chain(env: Env) -> bool:
            a = left(env)
            for test, right in pairs:
                b = right(env)
                if not test(a, b):
                    return False
                a = b
            return True

        return chain

    def ifexp(self, node: ast.IfExp, depth: int) -> Fn:
        test = self.compile(node.test, depth)
        yes = self.compile(node.body, depth)
        no = self.compile(node.orelse, depth)
        return lambda env: yes(env) if truthy(test(env)) else no(env)

    def call(self, node: ast.Call, depth: int) -> Fn:
        func = node.func
        if isinstance(func, ast.Attribute):
            raise self.method_error(node, func)
        if not isinstance(func, ast.Name):
            raise self.error(node, f"only these functions can be called: {_KNOWN}")
        name = func.id
        self.check_name(func, name)
        if name not in _FUNCTIONS:
            raise self.error(node, self.unknown_function(name))
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.error(arg, "`*` before a value is not allowed")
        for kw in node.keywords:
            if kw.arg is None:
                raise self.error(kw, "`**` before a value is not allowed")
            raise self.error(
                kw, f"unexpected `=` in {name}(...): to compare use ==; values go in by position"
            )
        low, high, impl = _FUNCTIONS[name]
        count = len(node.args)
        if count < low or (high is not None and count > high):
            wanted = (
                f"{low} or more values"
                if high is None
                else f"{low} value{'s' if low > 1 else ''}"
                if low == high
                else f"{low} or {high} values"
            )
            raise self.error(node, f"{name}() takes {wanted}, not {count}")
        args = [self.compile(a, depth) for a in node.args]
        site = self.site(node)
        if len(args) == 1:
            (only,) = args
            return lambda env: impl([only(env)], site)
        return lambda env: impl([a(env) for a in args], site)

    def method_error(self, node: ast.Call, func: ast.Attribute) -> ExprError:
        obj = ast.get_source_segment(self.text, func.value) or "x"
        shown = f"{obj}.{func.attr}()"
        ours = {"strip": "trim"}.get(func.attr, func.attr)
        if ours in _FUNCTIONS:
            rest = [ast.get_source_segment(self.text, a) or "..." for a in node.args]
            return self.error(
                node, f"`{shown}` is not allowed: write {ours}({', '.join([obj, *rest])})"
            )
        return self.error(node, f"`{shown}` is not allowed: methods cannot be called; use {_KNOWN}")

    def unknown_function(self, name: str) -> str:
        message = f"unknown function `{name}`: known functions are {_KNOWN}"
        if name in _FUNCTION_HINTS:
            return f"{message}; {_FUNCTION_HINTS[name]}"
        close = difflib.get_close_matches(name, list(_FUNCTIONS), n=1)
        return f"{message}; did you mean {close[0]}?" if close else message

    _NODES: Mapping[type[ast.AST], Callable[[_Compiler, Any, int], Fn]] = {
        ast.Constant: constant,
        ast.Name: name,
        ast.Attribute: lookup,
        ast.Subscript: lookup,
        ast.List: list_,
        ast.UnaryOp: unary,
        ast.BinOp: binop,
        ast.BoolOp: boolop,
        ast.Compare: compare,
        ast.IfExp: ifexp,
        ast.Call: call,
    }


# --- the public surface ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expr:
    """A parsed expression: build with `Expr.parse` at start-up, `evaluate` per message."""

    source: str
    names: frozenset[str]
    """The top-level variables read: `order` for `order.total`."""
    paths: frozenset[str]
    """The dotted paths read: `order.total`; a path stops before an index such as `[0]`."""
    _fn: Fn = field(repr=False, compare=False)

    @classmethod
    def parse(cls, source: str) -> Expr:
        """Parse and check `source`; raises `ExprError` with a message for the flow author."""
        if not isinstance(source, str):
            raise ExprError(repr(source), "an expression must be text")
        if len(source) > MAX_SOURCE:
            raise ExprError(source, f"the expression is longer than {MAX_SOURCE} characters")
        # One line, so that YAML block scalars may wrap; the same length keeps the columns.
        one_line = source.replace("\r", " ").replace("\n", " ")
        text = one_line.lstrip()
        shift = len(one_line) - len(text)
        if not text.strip():
            raise ExprError(source, "the expression is empty", 1)
        try:
            with warnings.catch_warnings():
                # e.g. "\d" in a text: harmless for us, and not the author's concern.
                warnings.simplefilter("ignore")
                tree = ast.parse(text, mode="eval")
        except SyntaxError as e:
            message, column = _syntax_problem(text, e)
            raise ExprError(source, message, None if column is None else column + shift) from e
        except (ValueError, MemoryError, RecursionError) as e:  # null bytes; parser limits
            raise ExprError(source, f"cannot read the expression: {e}") from e
        if "#" in text and (hash_at := _mask_strings(text).find("#")) >= 0:
            # Python would drop the rest as a comment; an author meant something else.
            raise ExprError(source, "`#` only goes inside quotes", hash_at + 1 + shift)
        compiler = _Compiler(source, text, shift)
        fn = compiler.compile(tree.body, 1)
        return cls(source, frozenset(compiler.names), frozenset(compiler.paths), fn)

    def evaluate(self, env: Env) -> Any:
        """The value of the expression over `env`; raises only `ExprError`."""
        try:
            return self._fn(env)
        except ExprError:
            raise
        except Exception as e:  # a safety net: e.g. a foreign Mapping whose get() raises
            raise ExprError(self.source, f"cannot evaluate: {type(e).__name__}: {e}") from e


@dataclass(frozen=True, slots=True)
class _Placeholder:
    expr: Expr
    column: int  # where the expression starts in the template, 1-based


@dataclass(frozen=True, slots=True)
class Template:
    """A text with `{{ expression }}` placeholders, parsed once; `render` per message.

    `names` is the frozenset of top-level variables; `paths` holds the dotted names.
    """

    source: str
    parts: tuple[str | _Placeholder, ...]
    names: frozenset[str]
    paths: frozenset[str]

    @classmethod
    def parse(cls, source: str) -> Template:
        """Split `source` into literal text and expressions; raises `ExprError` with a column."""
        parts: list[str | _Placeholder] = []
        pos = 0
        while (start := source.find("{{", pos)) >= 0:
            if start > pos:
                parts.append(source[pos:start])
            end = _placeholder_end(source, start)
            inner = source[start + 2 : end]
            column = start + 3 + len(inner) - len(inner.lstrip())
            inner = inner.strip()
            if not inner:
                raise ExprError(source, "empty placeholder: write a name inside {{ }}", start + 1)
            try:
                expr = Expr.parse(inner)
            except ExprError as e:
                at = column - 1 + e.column if e.column is not None else start + 1
                raise ExprError(source, f"in {{{{ }}}}: {e.message}", at) from e
            parts.append(_Placeholder(expr, column))
            pos = end + 2
        if pos < len(source):
            parts.append(source[pos:])
        exprs = [p.expr for p in parts if isinstance(p, _Placeholder)]
        return cls(
            source,
            tuple(parts),
            frozenset().union(*(e.names for e in exprs)),
            frozenset().union(*(e.paths for e in exprs)),
        )

    @property
    def expressions(self) -> tuple[Expr, ...]:
        """The placeholders' expressions, in order."""
        return tuple(p.expr for p in self.parts if isinstance(p, _Placeholder))

    @property
    def pieces(self) -> tuple[str | Expr, ...]:
        """The literal texts and the placeholders' expressions, in order."""
        return tuple(p if isinstance(p, str) else p.expr for p in self.parts)

    @property
    def single(self) -> Expr | None:
        """The expression when the text is one placeholder and nothing else (`"{{ x }}"`).

        Lets a caller keep the value's type (a number in a JSON body) instead of its text.
        """
        if len(self.parts) == 1 and isinstance(self.parts[0], _Placeholder):
            return self.parts[0].expr
        return None

    def render(self, env: Env) -> str:
        """The text with each placeholder's value shown; an `ExprError` propagates."""
        if len(self.parts) == 1 and isinstance(self.parts[0], str):
            return self.parts[0]
        out: list[str] = []
        for part in self.parts:
            if isinstance(part, str):
                out.append(part)
                continue
            try:
                out.append(show(part.expr.evaluate(env)))
            except ExprError as e:
                at = part.column - 1 + e.column if e.column is not None else part.column
                raise ExprError(self.source, e.message, at) from e
            except ValueError as e:  # str() of an integer with more than 4300 digits
                raise ExprError(self.source, f"cannot show the value: {e}", part.column) from e
        return "".join(out)


def _placeholder_end(source: str, start: int) -> int:
    """The index of the `}}` closing the `{{` at `start`, skipping quoted text."""
    i = start + 2
    quote = ""
    quote_at = 0
    while i < len(source):
        c = source[i]
        if quote:
            if c == "\\":
                i += 1
            elif c == quote:
                quote = ""
        elif c in "'\"":
            quote, quote_at = c, i
        elif c == "}" and source.startswith("}}", i):
            return i
        i += 1
    if quote:
        raise ExprError(
            source,
            "a quote is not closed: end the text with the quote it starts with",
            quote_at + 1,
        )
    raise ExprError(source, "`{{` is never closed: end the placeholder with }}", start + 1)
