"""CORS for the REST API: preflight answers and the headers added to every response."""

from __future__ import annotations

from collections.abc import Mapping

from .headers import is_valid_value

ANY = "*"
VARY_PREFLIGHT = "origin, access-control-request-method, access-control-request-headers"


class CorsPolicy:
    """Which origins and methods may call the API; request headers are always allowed.

    ``origins``/``methods`` of ``None`` mean "any" (the module's permissive default when the
    ``cors`` section is absent, or when the configured list is empty or contains ``"*"``).
    Credentials are never allowed.
    """

    def __init__(self, origins: list[str] | None = None, methods: list[str] | None = None) -> None:
        self.origins = (
            None if not origins or ANY in origins else frozenset(o for o in origins if is_valid_value(o))
        )
        self.methods = None if not methods else ", ".join(m.upper() for m in methods)
        self._any_origin = {"access-control-expose-headers": ANY, "access-control-allow-origin": ANY}

    def allow_origin(self, origin: str | None) -> str | None:
        """The ``access-control-allow-origin`` value for a request from ``origin``, if allowed."""
        if self.origins is None:
            return ANY
        if origin is not None and origin in self.origins:
            return origin
        return None

    def response_headers(self, origin: str | None) -> dict[str, str]:
        """Headers added to an ordinary (non-preflight) response (shared: callers must copy)."""
        if self.origins is None:
            return self._any_origin
        headers = {"access-control-expose-headers": ANY}
        allowed = self.allow_origin(origin)
        if allowed is not None:
            headers["access-control-allow-origin"] = allowed
        headers["vary"] = "origin"
        return headers

    def preflight_headers(self, origin: str | None, request_headers: Mapping[str, str]) -> dict[str, str]:
        """Headers of the answer to a preflight (``OPTIONS`` + ``Access-Control-Request-Method``)."""
        headers = {
            "access-control-allow-methods": self.methods or ANY,
            "access-control-allow-headers": request_headers.get("access-control-request-headers") or ANY,
            "vary": VARY_PREFLIGHT,
        }
        allowed = self.allow_origin(origin)
        if allowed is not None:
            headers["access-control-allow-origin"] = allowed
        return headers


def is_preflight(method: str, request_headers: Mapping[str, str]) -> bool:
    return (
        method == "OPTIONS"
        and "origin" in request_headers
        and "access-control-request-method" in request_headers
    )
