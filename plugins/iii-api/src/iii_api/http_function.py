"""One HTTP-invoked function: its ``invocation`` registration and the outbound call (MODULES §10)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
from iii_engine import ConfigError, Invocation, InvocationError, protocol

from .url_policy import UrlPolicy, UrlRejected

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
DEFAULT_TIMEOUT_MS = 30_000
_AUTH_KEYS = {
    "hmac": ("secret_key", "secret_not_found"),
    "bearer": ("token_key", "token_not_found"),
    "api_key": ("value_key", "api_key_not_found"),
}


@dataclass(frozen=True, slots=True)
class Auth:
    """Resolved credentials: the scheme, the secret read from the engine's environment, and for
    ``api_key`` the header that carries it."""

    kind: str
    secret: str
    header: str | None = None

    def apply(self, headers: dict[str, str], timestamp: str, body: bytes) -> None:
        if self.kind == "bearer":
            headers["Authorization"] = f"Bearer {self.secret}"
        elif self.kind == "api_key" and self.header:
            headers[self.header] = self.secret
        elif self.kind == "hmac":
            headers["x-iii-Signature"] = "sha256=" + sign(self.secret, timestamp, body)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over ``"<timestamp>:<base64(body)>"`` (what receivers verify)."""
    message = f"{timestamp}:{base64.b64encode(body).decode()}".encode()
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def read_auth(spec: Any, environ: Mapping[str, str]) -> Auth | None:
    """The ``auth`` object with its environment variable resolved; ConfigError when unusable."""
    if spec is None:
        return None
    if not isinstance(spec, dict) or spec.get("type") not in _AUTH_KEYS:
        raise ConfigError("auth.type must be one of hmac, bearer, api_key")
    key_field, missing_code = _AUTH_KEYS[spec["type"]]
    variable = spec.get(key_field)
    if not isinstance(variable, str) or variable not in environ:
        raise ConfigError(f"{missing_code}: environment variable {variable!r} (auth.{key_field}) is not set")
    header = spec.get("header")
    if spec["type"] == "api_key" and not isinstance(header, str):
        raise ConfigError("auth.header is required for api_key auth")
    return Auth(spec["type"], environ[variable], header)


@dataclass(frozen=True, slots=True)
class HttpFunction:
    """A function executed by calling ``url``; build with :meth:`from_registration`."""

    function_id: str
    url: str
    method: str = "POST"
    timeout_s: float = DEFAULT_TIMEOUT_MS / 1000
    headers: dict[str, str] = field(default_factory=dict)
    auth: Auth | None = None

    @classmethod
    def from_registration(
        cls, function_id: str, spec: dict[str, Any], environ: Mapping[str, str]
    ) -> HttpFunction:
        url = spec.get("url")
        if not isinstance(url, str):
            raise ConfigError("invocation.url is required (a string)")
        method = spec.get("method", "POST")
        if method not in METHODS:
            raise ConfigError(f"invocation.method must be one of {', '.join(sorted(METHODS))} (upper case)")
        timeout_ms = spec.get("timeout_ms", DEFAULT_TIMEOUT_MS)
        if timeout_ms is None:
            timeout_ms = DEFAULT_TIMEOUT_MS
        if not isinstance(timeout_ms, int) or isinstance(timeout_ms, bool) or timeout_ms <= 0:
            raise ConfigError("invocation.timeout_ms must be a positive integer")
        headers = spec.get("headers") or {}
        if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
            raise ConfigError("invocation.headers must be an object of strings")
        return cls(function_id, url, method, timeout_ms / 1000, headers, read_auth(spec.get("auth"), environ))

    def request_headers(self, body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "x-iii-Function-Path": self.function_id,
            "x-iii-Invocation-ID": str(uuid.uuid4()),
            "x-iii-Timestamp": timestamp,
            **self.headers,
        }
        if self.auth is not None:
            self.auth.apply(headers, timestamp, body)
        return headers

    async def call(self, session: aiohttp.ClientSession, policy: UrlPolicy, invocation: Invocation) -> Any:
        """POST (or the registered method) the data as JSON; the JSON answer is the result."""
        try:
            await policy.check(self.url)
        except UrlRejected as exc:
            raise InvocationError("url_validation_failed", str(exc)) from None
        body = protocol.encode(invocation.data)
        timeout = aiohttp.ClientTimeout(total=self.timeout_s)
        try:
            async with session.request(
                self.method,
                self.url,
                data=body,
                headers=self.request_headers(body),
                allow_redirects=False,
                timeout=timeout,
            ) as reply:
                try:
                    raw = await reply.read()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    raise InvocationError("http_response_failed", str(exc) or type(exc).__name__) from None
                status, reason = reply.status, reply.reason
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise InvocationError("http_request_failed", str(exc) or type(exc).__name__) from None
        if 200 <= status < 300:
            return _success(raw)
        raise _failure(status, reason, raw)


def _success(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvocationError("invalid_response", "Response body is not valid JSON") from None


def _failure(status: int, reason: str | None, raw: bytes) -> InvocationError:
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        document = None
    error = document.get("error") if isinstance(document, dict) else None
    if isinstance(error, dict):
        code, message = error.get("code"), error.get("message")
        return InvocationError(
            code if isinstance(code, str) else "http_error",
            message if isinstance(message, str) else "HTTP request failed",
        )
    return InvocationError("http_error", f"HTTP {status} {reason or ''}".rstrip())
