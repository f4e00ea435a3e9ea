"""The routes package's list of the API (its docstring, one line per route) names every route the app serves, with
the request and answer models OpenAPI publishes for it: the list is short because /docs carries the fields, and
checked here, so it is never kept in step by hand."""

from __future__ import annotations

import importlib
import pkgutil
import re

from fastapi.routing import APIWebSocketRoute

from dcgan.server import create_app, routes

# "  POST   /api/training/start   StartRequest -> 202 Status: what it is for"
LINE = re.compile(r"^  (GET|POST|PUT|PATCH|DELETE|WS) +(\S+) +(?:(\w+) +)?-> +(?:(\d{3}) +)?(\w+)", re.M)
MEDIA = {"image/png": "PNG", "image/gif": "GIF", "application/zip": "ZIP"}


def model(schema: dict | None) -> str | None:
    return schema["$ref"].rsplit("/", 1)[-1] if schema and "$ref" in schema else None


def served(app) -> set[tuple]:
    """(method, path, body, status, answer) of every route: OpenAPI's, and the WebSockets (not in OpenAPI)."""
    found = set()
    for path, operations in app.openapi()["paths"].items():
        for method, operation in operations.items():
            body = model(operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema"))
            status, answer = next((code, a) for code, a in operation["responses"].items() if code.startswith("2"))
            content = answer.get("content", {})
            json_model = model(content.get("application/json", {}).get("schema"))
            kind = json_model or next(MEDIA[m] for m in content if m in MEDIA)
            found.add((method.upper(), path, body, None if status == "200" else status, kind))
    for found_module in pkgutil.iter_modules(routes.__path__):
        router = importlib.import_module(f"{routes.__name__}.{found_module.name}").router
        found |= {("WS", r.path) for r in router.routes if isinstance(r, APIWebSocketRoute)}
    return found


def test_the_route_list_names_every_route_with_its_request_and_answer(tmp_path):
    listed = set()
    for method, path, body, status, answer in LINE.findall(routes.__doc__):
        listed.add((method, path) if method == "WS" else (method, path, body or None, status or None, answer))
    assert listed == served(create_app(tmp_path))
