"""Errors that cross module boundaries: invocation errors (sent to workers) and config errors."""

from __future__ import annotations

from typing import Any


class InvocationError(Exception):
    """A failed invocation; becomes the protocol's error body ``{code, message, stacktrace?}``."""

    __slots__ = ("code", "message", "stacktrace")

    def __init__(self, code: str, message: str, stacktrace: str | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.stacktrace = stacktrace

    def to_body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.stacktrace:
            body["stacktrace"] = self.stacktrace
        return body

    @classmethod
    def from_body(cls, body: Any) -> InvocationError:
        """Build from a worker's error value; a malformed one becomes ``invocation_failed``."""
        if isinstance(body, dict) and isinstance(body.get("code"), str):
            message = body.get("message")
            stacktrace = body.get("stacktrace")
            return cls(
                body["code"],
                message if isinstance(message, str) else str(message),
                stacktrace if isinstance(stacktrace, str) else None,
            )
        return cls("invocation_failed", str(body))


def function_not_found(function_id: str) -> InvocationError:
    return InvocationError("function_not_found", f"Function {function_id} not found")


def invocation_stopped() -> InvocationError:
    return InvocationError("invocation_stopped", "Invocation stopped")


class ConfigError(Exception):
    """Invalid configuration. ``path`` is the key path inside the module's ``config`` mapping
    (e.g. ``("adapter", "class")``); the kernel turns it into a file and line."""

    def __init__(self, message: str, path: tuple[str | int, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


class TriggerError(Exception):
    """The owner of a trigger type refused a trigger (reaches the worker as
    ``triggerregistrationresult`` with code ``trigger_registration_failed``)."""


class StartupError(Exception):
    """A user error at start-up: printed without a traceback, exit status 1."""
