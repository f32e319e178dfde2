"""Engines that talk to engines: the bridge client module and the state/stream bridge adapters.

Each joins a remote engine as an ordinary worker (through :class:`iii_steps.Worker`);
:class:`~iii_bridge.remote.RemoteEngine` turns that connection into calls that fail fast with
``bridge_error`` while the remote is unreachable.
"""
