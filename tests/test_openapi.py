"""GET /v1/openapi.json: a valid OpenAPI 3.1 document, in step with the routes served."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from openapi_spec_validator.validation.exceptions import OpenAPIValidationError

from ingestd.http.auth import parse_tokens
from ingestd.openapi.document import DOCUMENT
from tests.conftest import Served

METHODS = {"get", "put", "post", "patch", "delete", "head", "options", "trace"}
#: The router serves `/ping/{job}/{action}` as one route; the document spells it out as the
#: three named actions plus `/ping/{job}/{exit_code}`.
PING_ACTIONS = ("start", "fail", "log")


def _served(app: web.Application) -> set[tuple[str, str]]:
    """(METHOD, path template) of every route the app answers, HEAD left out."""
    served = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "*"):
            continue
        path = route.resource.canonical if route.resource is not None else ""
        served.add((route.method.lower(), path))
    return served


def _documented(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def _as_served(path: str) -> str:
    """The router's template for a documented path."""
    if re.fullmatch(r"/ping/\{job\}/(\{exit_code\}|" + "|".join(PING_ACTIONS) + ")", path):
        return "/ping/{job}/{action}"
    return path


async def _fetch(server: Served) -> dict[str, Any]:
    async with server.http.get("v1/openapi.json") as answer:
        assert answer.status == 200
        assert answer.content_type == "application/json"
        document: dict[str, Any] = await answer.json()
    return document


async def test_served_without_a_token(server_factory: Any) -> None:
    served = await server_factory(tokens=parse_tokens("k:read"))
    async with served.http.get("v1/openapi.json") as answer:
        assert answer.status == 200
    async with served.http.get("v1/runs") as answer:
        assert answer.status == 401  # while the rest stays protected


async def test_document_is_valid_openapi_3_1(server: Served) -> None:
    document = await _fetch(server)
    assert document == DOCUMENT
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises OpenAPIValidationError, naming the fault


def test_the_validator_catches_a_broken_document() -> None:
    broken = {**DOCUMENT, "paths": {"/v1/x": {"get": {"responses": "nope"}}}}
    try:
        validate(broken)
    except OpenAPIValidationError:
        return
    raise AssertionError("a broken document passed validation")


def test_every_reference_resolves() -> None:
    text = repr(DOCUMENT)
    for kind, name in re.findall(r"'#/components/(\w+)/([\w.<>-]+)'", text):
        assert name in DOCUMENT["components"][kind], f"{kind}/{name} is not defined"


async def test_every_served_route_is_documented(server: Served) -> None:
    document = await _fetch(server)
    documented = {(method, _as_served(path)) for method, path in _documented(document)}
    missing = _served(server.app) - documented
    assert not missing, f"served but not in /v1/openapi.json: {sorted(missing)}"


async def test_every_documented_route_is_served(server: Served) -> None:
    document = await _fetch(server)
    served = _served(server.app)
    phantom = {(m, p) for m, p in _documented(document) if (m, _as_served(p)) not in served}
    assert not phantom, f"documented but not served: {sorted(phantom)}"


async def test_path_parameters_are_named_as_in_the_route(server: Served) -> None:
    document = await _fetch(server)
    components = document["components"]["parameters"]
    for path, item in document["paths"].items():
        in_template = set(re.findall(r"\{(\w+)\}", path))
        for method in set(item) & METHODS:
            declared = set()
            for parameter in [*item.get("parameters", []), *item[method].get("parameters", [])]:
                if "$ref" in parameter:
                    parameter = components[parameter["$ref"].rsplit("/", 1)[1]]
                if parameter["in"] == "path":
                    declared.add(parameter["name"])
            assert declared == in_template, f"{method.upper()} {path}: {declared}"
        # The router's template has the same names, but for the spelled-out ping actions.
        if _as_served(path) == path:
            assert any(p == path for _, p in _served(server.app)), path


async def test_every_documented_query_parameter_is_accepted(server: Served) -> None:
    """The read endpoints answer 400 to a parameter they do not know: so each documented one
    must not get that answer (its value may still be wrong for other reasons)."""
    document = await _fetch(server)
    components = document["components"]["parameters"]
    for path, item in document["paths"].items():
        operation = item.get("get")
        if operation is None or "{" in path or path in ("/v1/tail", "/v1/alerts"):
            continue
        for parameter in operation.get("parameters", []):
            if "$ref" in parameter:
                parameter = components[parameter["$ref"].rsplit("/", 1)[1]]
            name = "attr.x" if parameter["name"] == "attr.<key>" else parameter["name"]
            if parameter["in"] != "query":
                continue
            async with server.http.get(path.lstrip("/"), params={name: "1"}) as answer:
                if answer.status == 400:
                    problem = await answer.json()
                    assert "unknown parameter" not in problem.get("detail", ""), (path, name)


def _examples(node: Any) -> Any:
    """(schema, example) for every example in the document: a media type's named examples and
    a schema's `examples` list."""
    if isinstance(node, dict):
        if isinstance(node.get("schema"), dict) and isinstance(node.get("examples"), dict):
            for example in node["examples"].values():
                yield node["schema"], example["value"]
        elif isinstance(node.get("examples"), list) and ("$ref" in node or "type" in node):
            schema = {key: value for key, value in node.items() if key != "examples"}
            for example in node["examples"]:
                yield schema, example
        for value in node.values():
            yield from _examples(value)
    elif isinstance(node, list):
        for value in node:
            yield from _examples(value)


def test_every_example_matches_its_schema() -> None:
    examples = list(_examples(DOCUMENT["paths"])) + list(_examples(DOCUMENT["components"]))
    shown = {repr(schema) for schema, _ in examples}
    # The answers docs/recipes.md shows have examples: the comparison and log completeness.
    assert "{'$ref': '#/components/schemas/RunComparison'}" in shown
    assert "{'$ref': '#/components/schemas/LogCompleteness'}" in shown
    for schema, example in examples:
        validator = Draft202012Validator({**schema, "components": DOCUMENT["components"]})
        errors = [error.message for error in validator.iter_errors(example)]
        assert not errors, f"{example!r} against {schema!r}: {errors}"
