"""Cached values as JSON that gives back the types it was given: Decimal, datetime and date."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any


def _encode(value: Any) -> Any:
    # Tagged objects for what JSON lacks; Decimal as a string keeps every digit.
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    raise TypeError(f"cannot cache a value of type {type(value).__name__}")


_DECODERS: dict[str, Callable[[str], Any]] = {
    "$decimal": Decimal, "$datetime": datetime.fromisoformat, "$date": date.fromisoformat,
}


def _decode(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        (tag, raw), = obj.items()
        if tag in _DECODERS:
            return _DECODERS[tag](raw)
    return obj


def dumps(value: Any) -> str:
    """JSON text for a value; Decimal, datetime and date survive the round trip."""
    return json.dumps(value, default=_encode, sort_keys=True, separators=(",", ":"))


def loads(text: str | bytes) -> Any:
    """The value dumps() wrote, with its Decimals and datetimes restored."""
    return json.loads(text, object_hook=_decode)
