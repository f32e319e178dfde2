"""Errors raised by the SDK."""

from __future__ import annotations

from typing import Any


class RemoteError(Exception):
    """An invocation failed: the engine's or the callee's error body (``code``, ``message``)."""

    def __init__(self, code: str, message: str, stacktrace: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.stacktrace = stacktrace

    @classmethod
    def from_body(cls, body: Any) -> RemoteError:
        """Build from a wire error body; a malformed one becomes ``invocation_failed``."""
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            stacktrace = body.get("stacktrace")
            return cls(
                body["code"],
                str(body.get("message", "")),
                stacktrace if isinstance(stacktrace, str) else None,
            )
        return cls("invocation_failed", str(body))


class InvocationTimeout(TimeoutError):
    """No result arrived within the invocation's timeout."""

    def __init__(self, function_id: str, timeout: float) -> None:
        super().__init__(f"invocation of '{function_id}' timed out after {timeout:g}s")
        self.function_id = function_id
        self.timeout = timeout


class StepError(Exception):
    """A step file that cannot be served: it failed to import, or its ``config`` is invalid."""

    def __init__(self, path: str, reason: str, detail: str | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason
        self.detail = detail
