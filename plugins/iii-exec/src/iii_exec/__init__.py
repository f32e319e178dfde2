"""Exec module (runs and hot-reloads the app's processes) for the iii engine.

``modules::shell::ExecModule`` runs the ``exec`` commands as a pipeline (each via ``sh -c`` in
its own process group, output forwarded to the engine log) and runs it again when a file
matching one of the ``watch`` globs changes.
"""

from .module import ExecModule

__all__ = ["ExecModule"]
