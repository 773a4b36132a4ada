"""JUEL forms beyond `&&`, `||` and `!` that Camunda and Flowable models write in conditions and
timers: the word operators (`eq`, `ne`, `lt`, `gt`, `le`, `ge`, `div`, `mod`) and the conditional
`a ? b : c`. Applied to text already stripped of `${...}`; quoted strings are left alone.
"""

from __future__ import annotations

import re

_WORDS = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">=", "div": "/", "mod": "%"}
_WORD = re.compile(r"\b(" + "|".join(_WORDS) + r")\b")


def _segments(text: str) -> list[tuple[str, bool]]:
    """(part, quoted) pieces of `text`."""
    parts: list[tuple[str, bool]] = []
    current: list[str] = []
    quote = None
    for ch in text:
        if quote:
            current.append(ch)
            if ch == quote:
                parts.append(("".join(current), True))
                current, quote = [], None
        elif ch in "'\"":
            if current:
                parts.append(("".join(current), False))
            current, quote = [ch], ch
        else:
            current.append(ch)
    if current:
        parts.append(("".join(current), quote is not None))
    return parts


def _top_level(text: str, wanted: str, start: int = 0) -> int:
    """Index of `wanted` outside quotes and brackets (a nested `?` pairs with its own `:`), or -1."""
    depth, quote, pending = 0, None, 0
    for i in range(start, len(text)):
        ch = text[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif depth == 0 and ch == "?" and wanted == ":":
            pending += 1
        elif depth == 0 and ch == wanted:
            if wanted == ":" and pending:
                pending -= 1
                continue
            return i
    return -1


def _split_commas(text: str) -> list[str]:
    """Arguments or items: `text` split at its top-level commas."""
    parts: list[str] = []
    start = 0
    while True:
        comma = _top_level(text, ",", start)
        if comma < 0:
            return [*parts, text[start:]]
        parts.append(text[start:comma])
        start = comma + 1


def _inner(text: str) -> str:
    """`text` with the conditionals inside each bracket rewritten first."""
    out, i, quote = [], 0, None
    while i < len(text):
        ch = text[i]
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([":
            depth, j, inner_quote = 0, i, None
            while j < len(text):
                c = text[j]
                if inner_quote:
                    inner_quote = None if c == inner_quote else inner_quote
                elif c in "'\"":
                    inner_quote = c
                elif c in "([":
                    depth += 1
                elif c in ")]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            if j < len(text):
                parts = _split_commas(text[i + 1 : j])
                out.append(ch + ", ".join(_conditional(p) for p in parts) + text[j])
                i = j + 1
                continue
        out.append(ch)
        i += 1
    return "".join(out)


def _conditional(text: str) -> str:
    text = _inner(text)
    question = _top_level(text, "?")
    if question < 0:
        return text
    colon = _top_level(text, ":", question + 1)
    if colon < 0:
        return text  # not JUEL's conditional: the evaluator's check will say what is wrong
    condition, then, otherwise = text[:question].strip(), text[question + 1 : colon].strip(), text[colon + 1 :].strip()
    return f"({_conditional(then)} if {condition} else {_conditional(otherwise)})"


def rewrite(text: str) -> str:
    words = "".join(
        part if quoted else _WORD.sub(lambda m: f" {_WORDS[m.group(1)]} ", part) for part, quoted in _segments(text)
    )
    return re.sub(r"\s+", " ", _conditional(words)).strip()
