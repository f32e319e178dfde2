"""iii engine kernel: config, plugin hooks, the invocation path and the worker WebSocket protocol.

Module authors need: :data:`hookimpl` (decorate hook implementations, see
:mod:`iii_engine.hookspecs`), :class:`Module`, :class:`Engine`'s public methods,
:class:`Invocation`, :class:`InvocationError`, :class:`ConfigError`, :class:`TriggerError`,
:class:`Trigger`, :class:`Input` and :class:`~iii_engine.config.ConfigView`.
"""

from .channels import Channel, ChannelClosed
from .config import ConfigView
from .engine import Engine
from .errors import ConfigError, InvocationError, StartupError, TriggerError
from .hookspecs import hookimpl
from .input import Input
from .invocation import Invocation, Middleware
from .module import Module
from .triggers import Trigger
from .worker import WorkerConnection

__version__ = "0.1.0"
REFERENCE_VERSION = "0.9.0"

__all__ = [
    "REFERENCE_VERSION",
    "Channel",
    "ChannelClosed",
    "ConfigError",
    "ConfigView",
    "Engine",
    "Input",
    "Invocation",
    "InvocationError",
    "Middleware",
    "Module",
    "StartupError",
    "Trigger",
    "TriggerError",
    "WorkerConnection",
    "hookimpl",
]
