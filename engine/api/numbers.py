"""The numbers a command's arguments carry, and the range each one declares.

Read from the argument types themselves (``msgspec.inspect``), so the allowed range in
a ``bad_args`` reply is the one the decoder enforced, and a test can list every numeric
argument of every command (tests/api/test_api_bounds.py: none may lack a finite range).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
from msgspec import inspect as mi


@dataclass(frozen=True, slots=True)
class NumericField:
    path: str
    """As the decoder names it: ``args.down``, ``args.request.file_priorities[...]``,
    ``key in args.priorities``."""
    kind: str
    """``int`` or ``float``."""
    lo: float | None
    hi: float | None

    def allowed(self) -> str:
        return f"{self.kind} from {_num(self.lo)} to {_num(self.hi)}"


def _num(value: float | None) -> str:
    if value is None:
        return "any"
    return str(int(value)) if float(value).is_integer() else repr(value)


def _bounds(t: mi.IntType | mi.FloatType) -> tuple[float | None, float | None]:
    lo = t.ge if t.ge is not None else t.gt
    hi = t.le if t.le is not None else t.lt
    return lo, hi


def _walk(t: mi.Type, path: str, seen: set[type]) -> Iterator[NumericField]:
    if isinstance(t, mi.IntType | mi.FloatType):
        kind = "int" if isinstance(t, mi.IntType) else "float"
        yield NumericField(path, kind, *_bounds(t))
    elif isinstance(t, mi.UnionType):
        for member in t.types:
            yield from _walk(member, path, seen)
    elif isinstance(t, mi.StructType):
        if t.cls in seen:
            return
        seen = seen | {t.cls}
        for f in t.fields:
            yield from _walk(f.type, f"{path}.{f.encode_name}", seen)
    elif isinstance(t, mi.ListType | mi.TupleType | mi.VarTupleType | mi.SetType
                    | mi.FrozenSetType):
        items = t.item_types if isinstance(t, mi.TupleType) else (t.item_type,)
        for item in items:
            yield from _walk(item, f"{path}[...]", seen)
    elif isinstance(t, mi.DictType):
        yield from _walk(t.key_type, f"key in {path}", seen)
        yield from _walk(t.value_type, f"{path}[...]", seen)


def numeric_fields(args_type: type[msgspec.Struct]) -> list[NumericField]:
    """Every number in ``args_type``, at any depth, with its declared range."""
    return list(_walk(mi.type_info(args_type), "args", set()))


_INDEX = re.compile(r"\[\d+\]")
_OUT_OF_RANGE = re.compile(r"Expected `(int|float)` [<>]=? ")


def allowed_range(args_type: type[msgspec.Struct], message: str) -> str:
    """`` (allowed: ...)`` when a decoder error is a number out of its declared range,
    else ``""``."""
    match = re.search(r"(`key` in )?`(args[^`]*)`", message)
    if match is None or not _OUT_OF_RANGE.search(message):
        return ""  # not a number out of its range (a wrong type is another error)
    path = ("key in " if match.group(1) else "") + _INDEX.sub("[...]", match.group(2))
    for field in _fields(args_type):
        if field.path == path:
            return f" (allowed: {field.allowed()})"
    return ""


_cache: dict[type[Any], list[NumericField]] = {}


def _fields(args_type: type[msgspec.Struct]) -> list[NumericField]:
    if args_type not in _cache:
        _cache[args_type] = numeric_fields(args_type)
    return _cache[args_type]
