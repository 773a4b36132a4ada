"""JSON encoding for what the engine stores: orjson, falling back to the standard library.

Every change encodes the workflow state (orjson is an order of magnitude faster than the standard
library at it) and the JSON columns of its rows. Decoding stays with the standard library (orjson reads
an integer beyond 64 bits as a float). The text decodes to the same values as the standard
library's, except that non-ASCII text is written as UTF-8 rather than escaped. NaN and infinities
are not JSON (orjson would write null, PostgreSQL's json type refuses them): they are refused where
they could enter instead, request bodies (web/parsing.py, 400), forms (422), plain variables
(engine/runtime.py, 422) and expressions (engine/expressions.py, the change fails). What orjson
refuses (an integer beyond 64 bits, a type that `default` does not know) goes to the standard
library, which encodes it or raises as it always did.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import orjson

# keys 1, True, None become "1", "true", "null" as with json.dumps; datetimes go to `default` (the
# workflow serializer writes them as typed values, not as orjson's strings)
_OPTIONS = orjson.OPT_NON_STR_KEYS | orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def dumps(value: Any, default: Callable[[Any], Any] | None = None, fallback: Callable[[Any], str] = json.dumps) -> str:
    try:
        return orjson.dumps(value, default=default, option=_OPTIONS).decode()
    except orjson.JSONEncodeError:
        return fallback(value)
