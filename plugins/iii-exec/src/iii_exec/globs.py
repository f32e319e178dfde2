"""Watch patterns: a glob compiled to a regular expression plus the directory to watch for it.

Supported syntax: ``*`` (any characters except ``/``), ``**`` (any number of directories),
``?`` (one character except ``/``), ``[abc]`` / ``[!abc]`` / ``[^abc]`` (character classes) and
``{ts,js}`` (alternatives, may nest). Relative patterns are taken from the engine's working
directory.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

WILDCARDS = frozenset("*?[{")


class GlobError(ValueError):
    """A pattern that is not a valid glob (the message says why)."""


@dataclass(frozen=True)
class WatchPattern:
    """One ``watch`` entry: the glob, its compiled form and the directory that holds its matches."""

    glob: str
    regex: re.Pattern[str]
    root: Path
    recursive: bool

    def matches(self, path: str) -> bool:
        return self.regex.fullmatch(os.path.abspath(path)) is not None


def compile_pattern(glob: str, base: Path) -> WatchPattern:
    """Compile ``glob`` (relative to ``base``); raises :class:`GlobError` when it is malformed."""
    if not glob.strip():
        raise GlobError("the pattern is empty")
    absolute = os.path.normpath(os.path.join(base, glob))
    parts = absolute.split("/")
    first_wild = next((i for i, part in enumerate(parts) if WILDCARDS & set(part)), len(parts) - 1)
    root = Path("/".join(parts[:first_wild]) or "/")
    recursive = first_wild < len(parts) - 1 or "**" in parts[-1]
    return WatchPattern(glob, re.compile(_translate(absolute)), root, recursive)


def _translate(glob: str) -> str:
    """The regular expression matching exactly the paths ``glob`` names."""
    out: list[str] = []
    index, depth = 0, 0
    while index < len(glob):
        char = glob[index]
        if glob.startswith("**/", index) and (index == 0 or glob[index - 1] == "/"):
            out.append("(?:[^/]*/)*")
            index += 3
            continue
        if glob.startswith("**", index):
            out.append(".*")
            index += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "[":
            index = _char_class(glob, index, out)
            continue
        elif char == "{":
            depth += 1
            out.append("(?:")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        elif char == "," and depth:
            out.append("|")
        elif char == "\\" and index + 1 < len(glob):
            index += 1
            out.append(re.escape(glob[index]))
        else:
            out.append(re.escape(char))
        index += 1
    if depth:
        raise GlobError("unclosed '{' (alternatives are written {a,b})")
    return "".join(out)


def _char_class(glob: str, start: int, out: list[str]) -> int:
    """Translate the ``[...]`` class opening at ``start``; returns the index after it."""
    end = start + 1
    if end < len(glob) and glob[end] in "!^":
        end += 1
    if end < len(glob) and glob[end] == "]":
        end += 1
    end = glob.find("]", end)
    if end < 0:
        raise GlobError(f"unclosed '[' at position {start + 1}")
    body = glob[start + 1 : end]
    negate = body[:1] in ("!", "^")
    if negate:
        body = body[1:]
    if "/" in body:
        raise GlobError("a character class cannot contain '/'")
    escaped = "".join("\\" + char if char in "\\^[]&~|" else char for char in body)
    out.append(f"[^/{escaped}]" if negate else f"[{escaped}]")
    return end + 1
