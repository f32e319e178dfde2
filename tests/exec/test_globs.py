"""Watch globs: what they match and which directory (and recursion) they need watched."""

from __future__ import annotations

from pathlib import Path

import pytest
from iii_exec.globs import GlobError, compile_pattern

BASE = Path("/srv/app")


@pytest.mark.parametrize(
    ("glob", "path", "matches"),
    [
        ("src/*.py", "/srv/app/src/main.py", True),
        ("src/*.py", "/srv/app/src/pkg/main.py", False),
        ("src/*.py", "/srv/app/src/main.pyc", False),
        ("src/**/*.py", "/srv/app/src/main.py", True),
        ("src/**/*.py", "/srv/app/src/a/b/main.py", True),
        ("src/**/*.{ts,js}", "/srv/app/src/ui/x.js", True),
        ("src/**/*.{ts,js}", "/srv/app/src/ui/x.css", False),
        ("src/file?.txt", "/srv/app/src/file1.txt", True),
        ("src/file?.txt", "/srv/app/src/file10.txt", False),
        ("src/[!_]*.py", "/srv/app/src/_private.py", False),
        ("src/[!_]*.py", "/srv/app/src/public.py", True),
        ("src/[]x]*.py", "/srv/app/src/]a.py", True),
        ("./config.yaml", "/srv/app/config.yaml", True),
        ("/etc/app/*.conf", "/etc/app/a.conf", True),
        ("src/**", "/srv/app/src/deep/file", True),
    ],
)
def test_matching(glob: str, path: str, matches: bool) -> None:
    assert compile_pattern(glob, BASE).matches(path) is matches


@pytest.mark.parametrize(
    ("glob", "root", "recursive"),
    [
        ("src/*.py", "/srv/app/src", False),
        ("src/**/*.py", "/srv/app/src", True),
        ("src/**", "/srv/app/src", True),
        ("*.py", "/srv/app", False),
        ("config.yaml", "/srv/app", False),
        ("{src,lib}/*.py", "/srv/app", True),
        ("../shared/*.py", "/srv/shared", False),
    ],
)
def test_watch_root(glob: str, root: str, recursive: bool) -> None:
    pattern = compile_pattern(glob, BASE)
    assert (pattern.root, pattern.recursive) == (Path(root), recursive)


@pytest.mark.parametrize(
    ("glob", "reason"),
    [
        ("", "empty"),
        ("src/[abc", r"unclosed '\['"),
        ("src/{a,b", "unclosed '{'"),
        ("src/[a/b]", "cannot contain"),
    ],
)
def test_malformed(glob: str, reason: str) -> None:
    with pytest.raises(GlobError, match=reason):
        compile_pattern(glob, BASE)
