"""SDK for steps: write Python handlers and run them on an iii engine.

- :class:`Worker` — the asyncio worker client (functions, triggers, invocations, channels).
- Steps — folders of ``*_step.py`` files with a ``config`` and a ``handler(input, ctx)``, served
  by :func:`run_steps` or the ``iii-steps run`` command.
"""

from .channels import ChannelReader, ChannelWriter
from .client import ReconnectPolicy, Trigger, TriggerTypeHandler, Worker
from .context import Context, State, Stream, Streams, TriggerInfo
from .errors import InvocationTimeout, RemoteError, StepError
from .http import ApiRequest
from .loader import LoadResult, load_steps
from .logger import Logger
from .runner import StepsApp, run_steps
from .steps import Step, TriggerSpec, build_step
from .tracing import TraceContext, current_trace

__all__ = [
    "ApiRequest",
    "ChannelReader",
    "ChannelWriter",
    "Context",
    "InvocationTimeout",
    "LoadResult",
    "Logger",
    "ReconnectPolicy",
    "RemoteError",
    "State",
    "Step",
    "StepError",
    "StepsApp",
    "Stream",
    "Streams",
    "TraceContext",
    "Trigger",
    "TriggerInfo",
    "TriggerSpec",
    "TriggerTypeHandler",
    "Worker",
    "build_step",
    "current_trace",
    "load_steps",
    "run_steps",
]
