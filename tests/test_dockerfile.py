"""The Dockerfile, read as text: no Docker daemon runs where the tests do, so this checks
the properties the image relies on, not a build."""

from __future__ import annotations

import re
from pathlib import Path

DOCKERFILE = (Path(__file__).resolve().parents[1] / "Dockerfile").read_text()


def _instruction(name: str) -> str:
    """The first `name` instruction, its continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    found = re.search(rf"^{re.escape(name)}\b.*$", joined, re.MULTILINE)
    assert found, f"no {name}"
    return found.group(0)


def test_the_image_is_built_for_an_operator() -> None:
    # The health check follows INGESTD_PORT: shell form, so the variable is expanded.
    check = _instruction("HEALTHCHECK")
    assert "${INGESTD_PORT:-8080}" in check and "CMD [" not in check
    # The wheels are bind-mounted for the install, not copied into a layer.
    assert "COPY --from=build /wheels" not in DOCKERFILE
    assert "--mount=type=bind,from=build,source=/wheels" in _instruction("RUN --mount")
    # A fixed uid and gid, so a bind mount can be chowned to them.
    assert "ARG INGESTD_UID=10001" in DOCKERFILE and "ARG INGESTD_GID=10001" in DOCKERFILE
    user = _instruction("RUN groupadd")
    assert '--gid "${INGESTD_GID}"' in user and '--uid "${INGESTD_UID}"' in user
    # ingestd picks a private runtime dir itself; a shared /tmp one is what it avoids.
    assert "XDG_RUNTIME_DIR" not in DOCKERFILE
