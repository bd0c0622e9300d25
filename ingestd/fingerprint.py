"""Error fingerprints: messages that differ only in numbers, ids, hex, quoted values or
paths share one. Computed once, when a log of level error or above is parsed."""

from __future__ import annotations

import hashlib
import re

_HEX = "[0-9a-fA-F]"
_PATTERNS = [
    # Order matters: the specific shapes first, so a UUID is not eaten as numbers.
    (re.compile(rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"), "<uuid>"),
    (
        re.compile(r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
        "<time>",
    ),
    (re.compile(r"\b(?:https?|ftp)://\S+"), "<url>"),
    (re.compile(r"(?:[A-Za-z]:)?(?:[/\\][\w.\-]+){2,}[/\\]?"), "<path>"),
    (re.compile(r"'[^']*'|\"[^\"]*\"|`[^`]*`"), "<str>"),
    # Hex: 0x..., or a word of hex digits holding at least one digit and one letter.
    (re.compile(rf"\b0[xX]{_HEX}+\b|\b(?=[a-fA-F]*\d)(?=\d*[a-fA-F]){_HEX}+\b"), "<hex>"),
    (re.compile(r"[-+]?\d+(?:[.,]\d+)*"), "<n>"),
    (re.compile(r"\s+"), " "),
]


def normalize(message: str) -> str:
    text = message[:2000]
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text.strip()


def fingerprint(error_type: str | None, message: str) -> str:
    """A short stable id for the error's shape (type plus normalized message)."""
    shape = f"{error_type or ''}\x1f{normalize(message)}"
    return hashlib.blake2b(shape.encode("utf-8", "replace"), digest_size=8).hexdigest()
