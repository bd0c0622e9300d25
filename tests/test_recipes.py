"""docs/recipes.md asks only what the API answers: every curl line's path and query parameters
are in the OpenAPI document (the answers shown were taken from a running ingestd)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from ingestd.openapi.document import DOCUMENT

RECIPES = Path(__file__).resolve().parent.parent / "docs" / "recipes.md"
CALL = re.compile(r'\$U(?P<path>/[^"\s?]*)(?:\?(?P<query>[^"\s]*))?')


def calls() -> list[tuple[str, str, list[str]]]:
    """(method, path, query parameter names) of each request the recipes make."""
    found = []
    for line in RECIPES.read_text().splitlines():
        if "curl " not in line:
            continue
        method = re.search(r"-X (\w+)", line)
        for match in CALL.finditer(line):
            names = [pair.split("=", 1)[0] for pair in (match["query"] or "").split("&") if pair]
            found.append((method[1].lower() if method else "get", match["path"], names))
    return found


def _operation(method: str, path: str) -> tuple[str, dict[str, Any]] | None:
    segments = path.strip("/").split("/")
    for template, item in DOCUMENT["paths"].items():
        parts = template.strip("/").split("/")
        if method not in item or len(parts) != len(segments):
            continue
        if all(p == s or p.startswith("{") for p, s in zip(parts, segments, strict=True)):
            return template, item
    return None


def _query_names(item: dict[str, Any], method: str) -> set[str]:
    components = DOCUMENT["components"]["parameters"]
    names = set()
    for parameter in [*item.get("parameters", []), *item[method].get("parameters", [])]:
        if "$ref" in parameter:
            parameter = components[parameter["$ref"].rsplit("/", 1)[1]]
        if parameter["in"] == "query":
            names.add(parameter["name"])
    return names


def test_the_recipes_ask_for_many_things() -> None:
    asked = calls()
    assert len(asked) > 40
    assert {p for _, p, _ in asked if p.endswith("/compare")}  # compare is among them


def test_every_recipe_path_and_parameter_is_in_the_openapi_document() -> None:
    for method, path, names in calls():
        found = _operation(method, path)
        assert found is not None, f"{method.upper()} {path} is not in the OpenAPI document"
        template, item = found
        declared = _query_names(item, method)
        for name in names:
            family = "attr.<key>" if name.startswith("attr.") else name
            assert family in declared, f"{method.upper()} {template}: no parameter {name}"
