"""What PostgreSQL can store: text without U+0000 or lone surrogates (text and jsonb refuse
both), and text cut to a size with a visible marker. The per-event hot path calls these,
so the common case (ASCII, or no NUL) costs a test and nothing else."""

from __future__ import annotations

import re
from typing import Any

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def has_unstorable(text: str) -> bool:
    # isascii() is O(1) in CPython: most strings skip the search.
    return "\x00" in text or (not text.isascii() and _UNSTORABLE.search(text) is not None)


def storable(text: str) -> str:
    """The text with what PostgreSQL refuses (U+0000, surrogates) replaced by U+FFFD."""
    return _UNSTORABLE.sub("\ufffd", text)


def clip_text(text: str, max_bytes: int) -> str:
    """Cut text to max_bytes of UTF-8, with a visible marker saying how much was cut."""
    if has_unstorable(text):
        text = storable(text)
    if len(text) * 4 <= max_bytes:  # cannot be too long, skip encoding
        return text
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return text
    cut = encoded[:max_bytes].decode("utf-8", "ignore")
    return f"{cut}… [truncated {len(encoded) - len(cut.encode())} bytes]"


def storable_value(value: Any) -> Any:
    """A JSON value with every string, keys included, made storable."""
    if type(value) is str:
        return storable(value)
    if type(value) is dict:
        return {storable_value(k): storable_value(v) for k, v in value.items()}
    if type(value) is list:
        return [storable_value(v) for v in value]
    return value
