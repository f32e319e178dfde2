"""The YAML config file: environment interpolation, parsing, and typed access with file:line errors."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .errors import ConfigError, StartupError

DEFAULT_WORKER_PORT = 49134

_PLACEHOLDER = re.compile(r"\$\{([^}:]+)(?::([^}]*))?\}")

T = TypeVar("T")


def interpolate(text: str, environ: Mapping[str, str] | None = None) -> str:
    """Replace ``${NAME}`` / ``${NAME:default}`` in raw config text (before YAML parsing).

    Only the first ``:`` separates name and default; a set-but-empty variable wins over the
    default; ``${NAME}`` with ``NAME`` unset is an error naming the variable and line.
    """
    env = os.environ if environ is None else environ

    def substitute(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        line = text.count("\n", 0, match.start()) + 1
        raise ConfigError(f"Environment variable '{name}' not set and no default provided (line {line})")

    return _PLACEHOLDER.sub(substitute, text)


@dataclass(frozen=True)
class Location:
    """Where a value sits: the config file and a 1-based line (0 when unknown)."""

    file: str
    line: int = 0

    def __str__(self) -> str:
        return f"{self.file}:{self.line}" if self.line else self.file


def _key_line(node: Any, key: str | int) -> int:
    """1-based line of ``key`` inside a ruamel node, or 0."""
    try:
        if isinstance(node, CommentedMap) and key in node:
            return node.lc.key(key)[0] + 1
        if isinstance(node, CommentedSeq) and isinstance(key, int) and key < len(node):
            return node.lc.item(key)[0] + 1
    except (AttributeError, KeyError, IndexError, TypeError):
        return 0
    return 0


class ConfigView:
    """Typed, strict read access to one config mapping (a module's or an adapter's ``config:``).

    Every getter records the key as known, so :meth:`reject_unknown` can refuse the rest; every
    error names the file and line of the offending key.
    """

    def __init__(self, node: Any, location: Location, path: tuple[str | int, ...] = ()) -> None:
        if node is None:
            node = CommentedMap()
        if not isinstance(node, Mapping):
            raise ConfigError(f"{location}: expected a mapping, got {type(node).__name__}")
        self._node = node
        self._location = location
        self._path = path
        self._known: set[str] = set()

    # -- locating ----------------------------------------------------------------------------

    def location_of(self, key: str | int | None = None) -> Location:
        line = _key_line(self._node, key) if key is not None else 0
        return Location(self._location.file, line or self._location.line)

    def error(self, key: str | int | None, message: str) -> ConfigError:
        where = self.location_of(key)
        dotted = ".".join(str(p) for p in (*self._path, key) if p is not None) or "config"
        return ConfigError(f"{where}: {dotted}: {message}")

    # -- access ------------------------------------------------------------------------------

    def __contains__(self, key: str) -> bool:
        return key in self._node

    def keys(self) -> Iterator[str]:
        return iter(self._node.keys())

    def raw(self, key: str, default: Any = None) -> Any:
        """The plain Python value (dicts and lists, no ruamel types) of ``key``."""
        self._known.add(key)
        return to_plain(self._node.get(key, default))

    def to_dict(self) -> dict[str, Any]:
        return to_plain(self._node)

    def _typed(self, key: str, default: T, types: tuple[type, ...], label: str) -> T:
        self._known.add(key)
        value = self._node.get(key)
        if value is None:
            return default
        if isinstance(value, bool) and bool not in types:
            raise self.error(key, f"expected {label}, got {value!r}")
        if not isinstance(value, types):
            raise self.error(key, f"expected {label}, got {value!r}")
        return value  # type: ignore[return-value]

    def str(self, key: str, default: Any = None) -> Any:
        value = self._typed(key, default, (str, int, float), "a string")
        return value if value is None or isinstance(value, str) else str(value)

    def int(self, key: str, default: Any = None, *, minimum: int | None = None) -> Any:
        value = self._typed(key, default, (int,), "an integer")
        if value is not None and minimum is not None and value < minimum:
            raise self.error(key, f"must be at least {minimum}, got {value}")
        return value

    def float(self, key: str, default: Any = None) -> Any:
        value = self._typed(key, default, (int, float), "a number")
        return float(value) if value is not None else None

    def bool(self, key: str, default: Any = None) -> Any:
        self._known.add(key)
        value = self._node.get(key)
        if value is None:
            return default
        if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
            return value.lower() in ("true", "1")
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {value!r}")
        return value

    def list(self, key: str, default: Any = None) -> Any:
        value = self._typed(key, default, (list,), "a list")
        return to_plain(value)

    def section(self, key: str) -> ConfigView:
        """A nested mapping as its own view (empty when absent or null)."""
        self._known.add(key)
        node = self._node.get(key)
        if node is not None and not isinstance(node, Mapping):
            raise self.error(key, f"expected a mapping, got {node!r}")
        return ConfigView(node, self.location_of(key), (*self._path, key))

    def has_section(self, key: str) -> bool:
        return isinstance(self._node.get(key), Mapping)

    def reject_unknown(self) -> None:
        """Refuse keys that no getter asked for (for modules whose config is strict)."""
        for key in self._node:
            if key not in self._known:
                raise self.error(key, "unknown key")


def to_plain(value: Any) -> Any:
    """ruamel's commented containers to plain dicts and lists."""
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_plain(v) for v in value]
    return value


@dataclass
class ModuleEntry:
    """One ``modules:`` entry: its ``class:`` name and ``config:`` view."""

    class_name: str
    config: ConfigView
    location: Location


@dataclass
class EngineConfig:
    """The parsed config file (or the default module set)."""

    source: str
    port: int = DEFAULT_WORKER_PORT
    modules: list[ModuleEntry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    """Things the file says that the engine ignores (logged once logging is set up)."""

    def module_config(self, class_name: str) -> ConfigView | None:
        for entry in self.modules:
            if entry.class_name == class_name:
                return entry.config
        return None


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    return yaml


def parse_config(text: str, source: str, environ: Mapping[str, str] | None = None) -> EngineConfig:
    """Interpolate, parse and structure a config text. Raises :class:`StartupError`."""
    try:
        text = interpolate(text, environ)
    except ConfigError as exc:
        raise StartupError(f"{source}: {exc.message}") from None
    try:
        document = _yaml().load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f", line {mark.line + 1}" if mark is not None else ""
        raise StartupError(f"Failed to parse config file '{source}'{line}: {exc.problem or exc}") from None
    except Exception as exc:  # ruamel raises a few unmarked errors (duplicate keys, bad chars)
        raise StartupError(f"Failed to parse config file '{source}': {exc}") from None
    if document is None:
        document = CommentedMap()
    if not isinstance(document, CommentedMap):
        raise StartupError(f"{source}:1: the config file must be a mapping with 'port' and 'modules'")
    root = ConfigView(document, Location(source, 1))
    try:
        port = root.int("port", DEFAULT_WORKER_PORT, minimum=0)
        if port > 65535:
            raise root.error("port", f"must be at most 65535, got {port}")
        entries = document.get("modules")
        if entries is None:
            entries = CommentedSeq()
        if not isinstance(entries, CommentedSeq):
            raise root.error("modules", "expected a list of module entries")
        modules = []
        warnings = []
        for index, entry in enumerate(entries):
            where = Location(source, _key_line(entries, index))
            if not isinstance(entry, CommentedMap) or not isinstance(entry.get("class"), str):
                raise ConfigError(f"{where}: modules[{index}]: each entry needs a 'class:' string")
            view = ConfigView(entry, where)
            warnings.extend(
                f"{view.location_of(key)}: modules[{index}].{key} is ignored: a module entry has only "
                "'class' and 'config' (module settings go under 'config:')"
                for key in entry
                if key not in ("class", "config")
            )
            modules.append(
                ModuleEntry(
                    class_name=entry["class"],
                    config=view.section("config"),
                    location=view.location_of("class"),
                )
            )
    except ConfigError as exc:
        raise StartupError(exc.message) from None
    return EngineConfig(source=source, port=port or DEFAULT_WORKER_PORT, modules=modules, warnings=warnings)


def load_config(path: str | Path) -> EngineConfig:
    """Read and parse a config file. Raises :class:`StartupError` with the reference's messages."""
    path = Path(path)
    if not path.exists():
        raise StartupError(
            f"Config file not found: '{path}'.\n"
            "Hint: create a config.yaml or pass --use-default-config to run with defaults."
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise StartupError(f"Failed to read config file '{path}': {exc}") from None
    return parse_config(text, str(path))


def default_config(class_names: list[str]) -> EngineConfig:
    """The default module set (each with its defaults) on the default worker port."""
    source = "<default config>"
    return EngineConfig(
        source=source,
        modules=[
            ModuleEntry(name, ConfigView(None, Location(source)), Location(source)) for name in class_names
        ],
    )
