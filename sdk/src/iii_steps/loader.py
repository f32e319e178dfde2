"""Finding and importing step files (``*_step.py`` and ``*.step.py``) under a folder.

A file that fails to import, lacks ``config``/``handler``, has an invalid config or reuses another
step's name becomes a :class:`StepError`; the other files still load.
"""

from __future__ import annotations

import importlib.util
import re
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

from .errors import StepError
from .steps import Step, build_step

MODULE_PREFIX = "iii_steps_app"


@dataclass
class LoadResult:
    """The valid steps and the problems found, in file order."""

    steps: list[Step] = field(default_factory=list)
    errors: list[StepError] = field(default_factory=list)


def discover(folder: Path) -> list[Path]:
    """Step files under ``folder`` (recursively; hidden folders and caches skipped), sorted."""
    found = {p for pattern in ("*_step.py", "*.step.py") for p in folder.rglob(pattern) if p.is_file()}
    return sorted(
        p for p in found if not any(part.startswith((".", "__")) for part in p.relative_to(folder).parts[:-1])
    )


def _module_name(folder: Path, path: Path) -> str:
    relative = path.relative_to(folder).with_suffix("").as_posix()
    return f"{MODULE_PREFIX}.{re.sub(r'[^0-9A-Za-z_]', '_', relative)}"


def _where(exc: BaseException, path: Path) -> str:
    """`` (line N)`` of the innermost frame of the step file itself, when the error came from it."""
    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == str(path)]
    return f" (line {lines[-1]})" if lines and not isinstance(exc, SyntaxError) else ""


def load_step_file(folder: Path, path: Path) -> Step:
    """Import one step file and validate it; raises :class:`StepError`."""
    shown = str(path)
    name = _module_name(folder, path)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise StepError(shown, "cannot be imported (not a Python source file)")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:  # a step file may raise anything, even SystemExit
        sys.modules.pop(name, None)
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise StepError(
            shown,
            f"failed to import: {type(exc).__name__}: {exc}{_where(exc, path)}",
            "".join(traceback.format_exception(exc)),
        ) from None
    missing = [attr for attr in ("config", "handler") if not hasattr(module, attr)]
    if missing:
        raise StepError(shown, f"does not define {' and '.join(repr(m) for m in missing)}")
    return build_step(module.config, module.handler, shown)


def load_steps(folder: Path) -> LoadResult:
    """Load every step file under ``folder``; the folder and its parent become importable."""
    folder = folder.resolve()
    result = LoadResult()
    if not folder.is_dir():
        result.errors.append(StepError(str(folder), "is not a folder"))
        return result
    for importable in (str(folder.parent), str(folder)):
        if importable not in sys.path:
            sys.path.insert(0, importable)
    names: dict[str, str] = {}
    for path in discover(folder):
        try:
            step = load_step_file(folder, path)
        except StepError as exc:
            result.errors.append(exc)
            continue
        if step.name in names:
            result.errors.append(
                StepError(step.file, f"step name {step.name!r} is already used by {names[step.name]}")
            )
            continue
        names[step.name] = step.file
        result.steps.append(step)
    return result
