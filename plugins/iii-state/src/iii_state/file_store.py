"""In-process storage persisted to a directory, one JSON file per scope.

Changed scopes are written ``save_interval_ms`` after their first change (``0``: right after
the write), and on shutdown. Each file is replaced atomically (temporary file, ``fsync``,
``rename``, ``fsync`` of the directory), so a crash leaves either the previous or the new
version of a scope, never a torn file; writes made after the last flush are lost on a crash.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

from iii_engine import Engine, StartupError

from .codec import dumps, loads
from .memory_store import MemoryStore

RETRY_DELAY_S = 1.0

_log = Engine.logger("iii::modules::state")


class FileStore(MemoryStore):
    """``modules::state::adapters::KvStore`` with ``store_method: file_based``."""

    def __init__(self, directory: str | Path, save_interval_ms: int, namespace: str = "state") -> None:
        super().__init__()
        self.directory = Path(directory)
        self.save_interval_s = save_interval_ms / 1000
        self.namespace = namespace
        self._dirty: set[str] = set()
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()

    def _path(self, scope: str) -> Path:
        digest = hashlib.sha256(scope.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        return self.directory / f"{self.namespace}-{digest}.json"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StartupError(f"cannot create the store directory {self.directory}: {exc}") from None
        for path in sorted(self.directory.glob(f"{self.namespace}-*.json")):
            self._load(path)
        await super().start()
        self.background.start(self._flush_forever(), "file-flusher")

    async def close(self) -> None:
        await self.background.stop()
        await self.flush()

    def _load(self, path: Path) -> None:
        try:
            document = loads(path.read_bytes())
            scope = document["scope"]
            rows = document["items"]
            self.load_scope(scope, {key: value for key, value, _ in rows})
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise StartupError(
                f"cannot read the store file {path}: {exc!r}; move it away to start empty"
            ) from None
        for key, _, deadline in rows:
            if deadline is not None:
                self.set_deadline(scope, key, deadline)

    # -- persistence -------------------------------------------------------------------------

    def changed(self, scope: str) -> None:
        self._dirty.add(scope)
        self._wake.set()

    async def _flush_forever(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.save_interval_s)
            if not await self.flush():
                await asyncio.sleep(RETRY_DELAY_S)

    async def flush(self) -> bool:
        """Write every changed scope now; ``False`` (and logged) when the disk refused."""
        async with self._flush_lock:
            dirty, self._dirty = self._dirty, set()
            self._wake.clear()
            if not dirty:
                return True
            writes = [(self._path(scope), self._snapshot(scope)) for scope in dirty]
            try:
                await asyncio.to_thread(self._write_files, writes)
            except OSError as exc:
                self._dirty |= dirty  # keep them for the next attempt
                self._wake.set()
                _log.error(
                    "cannot write the store files; will retry", directory=str(self.directory), error=str(exc)
                )
                return False
            return True

    def _snapshot(self, scope: str) -> bytes | None:
        items = self.items_of(scope)
        if not items:
            return None
        rows = [[key, value, self.deadline_of(scope, key)] for key, value in items.items()]
        return dumps({"scope": scope, "items": rows})

    def _write_files(self, writes: list[tuple[Path, bytes | None]]) -> None:
        for path, data in writes:
            if data is None:
                path.unlink(missing_ok=True)
                continue
            temporary = path.with_suffix(".tmp")
            with temporary.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
