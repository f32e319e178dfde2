"""The route table of ``http`` triggers: a segment trie, so lookups cost the path's depth, not the
number of routes."""

from __future__ import annotations

from dataclasses import dataclass, field

PARAM_PREFIX = ":"


def route_path(api_path: str) -> str:
    """The routing form of an ``api_path``: leading slashes stripped (trailing ones are kept)."""
    return api_path.lstrip("/")


@dataclass(slots=True)
class Route:
    """One method + path bound to a function."""

    method: str
    api_path: str
    """The path as the trigger configured it (reported to the function as ``path``)."""
    function_id: str
    trigger_id: str
    condition_function_id: str | None
    param_names: tuple[str | None, ...]
    """Per path segment: the parameter name, or ``None`` for a static segment."""
    has_params: bool

    @classmethod
    def of(
        cls,
        method: str,
        api_path: str,
        function_id: str,
        trigger_id: str,
        condition_function_id: str | None = None,
    ) -> Route:
        names = tuple(s[1:] if s.startswith(PARAM_PREFIX) else None for s in route_path(api_path).split("/"))
        has_params = any(name is not None for name in names)
        return cls(method, api_path, function_id, trigger_id, condition_function_id, names, has_params)

    @property
    def key(self) -> tuple[str, str]:
        """Method and path shape: routes with equal keys occupy the same slot of the table."""
        segments = route_path(self.api_path).split("/")
        return self.method, "/".join(PARAM_PREFIX if s.startswith(PARAM_PREFIX) else s for s in segments)

    def params(self, segments: list[str]) -> dict[str, str]:
        return {
            name: value for name, value in zip(self.param_names, segments, strict=True) if name is not None
        }


@dataclass(slots=True)
class _Node:
    static: dict[str, _Node] = field(default_factory=dict)
    param: _Node | None = None
    routes: dict[str, Route] = field(default_factory=dict)

    def is_empty(self) -> bool:
        return not self.static and self.param is None and not self.routes


class MethodNotAllowed(Exception):
    """The path has routes, none for the request's method."""


class RouteTable:
    """Routes by method and path, with ``:name`` parameter segments.

    Static segments beat parameters (``users/me`` over ``users/:id``), with backtracking when the
    static branch does not lead to a route. ``HEAD`` falls back to the ``GET`` route.
    """

    def __init__(self) -> None:
        self._root = _Node()
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, route: Route) -> Route | None:
        """Insert ``route``; returns the route it replaced (same method and path), if any."""
        node = self._root
        for segment in route_path(route.api_path).split("/"):
            if segment.startswith(PARAM_PREFIX):
                if node.param is None:
                    node.param = _Node()
                node = node.param
            else:
                node = node.static.setdefault(segment, _Node())
        previous = node.routes.get(route.method)
        node.routes[route.method] = route
        if previous is None:
            self._count += 1
        return previous

    def remove(self, method: str, api_path: str) -> Route | None:
        """Delete the route for ``method`` + ``api_path`` and prune emptied branches."""
        trail: list[tuple[_Node, str | None]] = []
        node = self._root
        for segment in route_path(api_path).split("/"):
            if segment.startswith(PARAM_PREFIX):
                child, key = node.param, None
            else:
                child, key = node.static.get(segment), segment
            if child is None:
                return None
            trail.append((node, key))
            node = child
        removed = node.routes.pop(method, None)
        if removed is None:
            return None
        self._count -= 1
        for parent, key in reversed(trail):
            if not node.is_empty():
                break
            if key is None:
                parent.param = None
            else:
                del parent.static[key]
            node = parent
        return removed

    def get(self, method: str, api_path: str) -> Route | None:
        """The route registered for exactly this method and pattern."""
        node: _Node | None = self._root
        for segment in route_path(api_path).split("/"):
            if node is None:
                return None
            node = node.param if segment.startswith(PARAM_PREFIX) else node.static.get(segment)
        return node.routes.get(method) if node is not None else None

    def match(self, method: str, path: str) -> tuple[Route, list[str]] | None:
        """The route for a request path (without its leading ``/``) and the path's segments.

        Returns ``None`` when no route has this path; raises :class:`MethodNotAllowed` when
        routes exist for the path but not for ``method``.
        """
        segments = path.split("/")
        node = _find(self._root, segments, 0)
        if node is None:
            return None
        route = node.routes.get(method)
        if route is None and method == "HEAD":
            route = node.routes.get("GET")
        if route is None:
            raise MethodNotAllowed(path)
        return route, segments


def _find(node: _Node, segments: list[str], index: int) -> _Node | None:
    """The deepest-static-first node holding routes for ``segments[index:]``."""
    if index == len(segments):
        return node if node.routes else None
    segment = segments[index]
    child = node.static.get(segment)
    if child is not None:
        found = _find(child, segments, index + 1)
        if found is not None:
            return found
    if node.param is not None and segment:
        return _find(node.param, segments, index + 1)
    return None
