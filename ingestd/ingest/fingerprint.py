"""Error fingerprints: messages that differ only in numbers, ids, hex, quoted values or
paths share one. Computed once, when a log of level error or above is parsed."""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache

_HEX = "[0-9a-fA-F]"
# One pass, alternatives in priority order (at each position the first that matches wins,
# so a UUID is not eaten as numbers): eight sequential passes cost ~40 us a message.
_SHAPES = re.compile(
    "|".join(
        f"(?P<{name}>{pattern})"
        for name, pattern in (
            ("uuid", rf"{_HEX}{{8}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{4}}-{_HEX}{{12}}"),
            ("time", r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?"),
            ("url", r"\b(?:https?|ftp)://\S+"),
            ("path", r"(?:[A-Za-z]:)?(?:[/\\][\w.\-]+){2,}[/\\]?"),
            ("str", r"'[^']*'|\"[^\"]*\"|`[^`]*`"),
            # Hex: 0x..., or a word of hex digits holding at least one digit and one letter.
            ("hex", rf"\b0[xX]{_HEX}+\b|\b(?=[a-fA-F]*\d)(?=\d*[a-fA-F]){_HEX}+\b"),
            ("n", r"[-+]?\d+(?:[.,]\d+)*"),
        )
    )
)


def _token(match: re.Match[str]) -> str:
    return f"<{match.lastgroup}>"


@lru_cache(maxsize=4096)
def normalize(message: str) -> str:
    """The message with its variable parts replaced by their kind (repeats are cached)."""
    return " ".join(_SHAPES.sub(_token, message[:2000]).split())


def fingerprint(error_type: str | None, message: str) -> str:
    """A short stable id for the error's shape (type plus normalized message)."""
    shape = f"{error_type or ''}\x1f{normalize(message)}"
    return hashlib.blake2b(shape.encode("utf-8", "replace"), digest_size=8).hexdigest()
