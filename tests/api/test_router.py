"""The route table alone: precedence, parameters, removal, method handling."""

from __future__ import annotations

import pytest
from iii_api.router import MethodNotAllowed, Route, RouteTable


def table(*routes: tuple[str, str]) -> RouteTable:
    routes_table = RouteTable()
    for index, (method, path) in enumerate(routes):
        routes_table.add(Route.of(method, path, f"fn{index}", f"t{index}"))
    return routes_table


def matched(routes: RouteTable, method: str, path: str) -> tuple[str, dict[str, str]] | None:
    found = routes.match(method, path)
    if found is None:
        return None
    route, segments = found
    return route.api_path, route.params(segments)


def test_static_segments_beat_parameters_with_backtracking() -> None:
    routes = table(
        ("GET", "users/:id"), ("GET", "users/me"), ("GET", "users/me/settings"), ("GET", "users/:id/posts")
    )
    assert matched(routes, "GET", "users/me") == ("users/me", {})
    assert matched(routes, "GET", "users/42") == ("users/:id", {"id": "42"})
    assert matched(routes, "GET", "users/me/posts") == ("users/:id/posts", {"id": "me"})
    assert matched(routes, "GET", "users/me/settings") == ("users/me/settings", {})


def test_leading_slash_is_optional_and_trailing_slash_significant() -> None:
    routes = table(("GET", "/a/b"))
    assert matched(routes, "GET", "a/b") == ("/a/b", {})
    assert matched(routes, "GET", "a/b/") is None
    assert routes.get("GET", "a/b") is not None


def test_parameters_are_raw_and_never_empty() -> None:
    routes = table(("GET", "files/:name"))
    assert matched(routes, "GET", "files/a%20b") == ("files/:name", {"name": "a%20b"})
    assert matched(routes, "GET", "files/") is None


def test_method_not_allowed_and_head_falls_back_to_get() -> None:
    routes = table(("GET", "x"), ("POST", "y"))
    assert matched(routes, "HEAD", "x") == ("x", {})
    with pytest.raises(MethodNotAllowed):
        routes.match("DELETE", "x")
    with pytest.raises(MethodNotAllowed):
        routes.match("HEAD", "y")


def test_replace_and_remove_prune_the_tree() -> None:
    routes = table(("GET", "a/:id/c"))
    previous = routes.add(Route.of("GET", "a/:other/c", "new", "t9"))
    assert previous is not None and previous.function_id == "fn0"
    assert len(routes) == 1
    found = routes.match("GET", "a/1/c")
    assert found is not None and found[0].params(found[1]) == {"other": "1"}
    assert routes.remove("GET", "a/:x/c") is not None
    assert len(routes) == 0
    assert routes.match("GET", "a/1/c") is None
    assert routes.remove("GET", "a/:x/c") is None


def test_many_routes_do_not_interfere() -> None:
    routes = table(*[("GET", f"r{i}/items/:id") for i in range(1000)])
    assert matched(routes, "GET", "r999/items/7") == ("r999/items/:id", {"id": "7"})
    assert matched(routes, "GET", "r1000/items/7") is None
