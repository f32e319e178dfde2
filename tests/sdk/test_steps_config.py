"""Step configs and step files: validation, function ids, and clear errors for broken files."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from iii_steps import StepError, build_step, load_steps
from iii_steps.http import ApiRequest, to_http_response


async def handler(data: object, ctx: object) -> None:
    return None


def _ids(config: dict) -> list[tuple[str, str, dict]]:
    step = build_step(config, handler, "x_step.py")
    return [(step.function_id(t), t.type, t.config) for t in step.triggers]


def test_single_type_configs_map_to_engine_triggers() -> None:
    assert _ids({"type": "api", "name": "CreateUser", "path": "/users", "method": "post"}) == [
        (
            "steps::CreateUser::trigger::http(POST /users)",
            "http",
            {"api_path": "users", "http_method": "POST"},
        )
    ]
    assert _ids({"type": "event", "name": "Notify", "subscribes": ["a", "b"]}) == [
        ("steps::Notify::trigger::subscribe(a)", "subscribe", {"topic": "a"}),
        ("steps::Notify::trigger::subscribe(b)", "subscribe", {"topic": "b"}),
    ]
    assert _ids({"type": "queue", "name": "Work", "topic": "jobs", "queue_config": {"concurrency": 2}}) == [
        ("steps::Work::trigger::queue(jobs)", "queue", {"topic": "jobs", "queue_config": {"concurrency": 2}})
    ]
    assert _ids({"type": "cron", "name": "Tick", "cron": "*/5 * * * * *"}) == [
        ("steps::Tick::trigger::cron(*/5 * * * * *)", "cron", {"expression": "*/5 * * * * *"})
    ]
    assert _ids({"type": "noop", "name": "Manual"}) == []


def test_trigger_lists_and_repeated_labels() -> None:
    config = {
        "name": "Audit",
        "triggers": [
            {"type": "http", "method": "GET", "path": "/audit"},
            {"type": "http", "method": "GET", "path": "/audit"},
            {"type": "queue", "topic": "audit", "config": {"type": "fifo"}},
            {"type": "state", "scope": "orders"},
            {"type": "stream", "streamName": "orders", "groupId": "all"},
            {"type": "cron", "expression": "0 0 * * * *"},
        ],
    }
    assert _ids(config) == [
        ("steps::Audit::trigger::http(GET /audit)", "http", {"api_path": "audit", "http_method": "GET"}),
        ("steps::Audit::trigger::http(GET /audit)-1", "http", {"api_path": "audit", "http_method": "GET"}),
        (
            "steps::Audit::trigger::queue(audit)",
            "queue",
            {"topic": "audit", "queue_config": {"type": "fifo"}},
        ),
        ("steps::Audit::trigger::state", "state", {"scope": "orders"}),
        ("steps::Audit::trigger::stream(orders)", "stream", {"stream_name": "orders", "group_id": "all"}),
        ("steps::Audit::trigger::cron(0 0 * * * *)", "cron", {"expression": "0 0 * * * *"}),
    ]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ({"type": "api", "path": "/x"}, "'name' must be a non-empty string"),
        ({"type": "api", "name": "A"}, "'path' must be a non-empty string"),
        ({"type": "api", "name": "A", "path": "/x", "method": "FETCH"}, "'method' must be one of"),
        ({"type": "event", "name": "E"}, "needs 'topic'"),
        ({"type": "cron", "name": "C", "cron": "*/5 * * * *"}, "must have 6 or 7 fields"),
        ({"type": "weird", "name": "W"}, "'type' must be one of"),
        ({"name": "T", "triggers": [{"type": "carrier-pigeon"}]}, "triggers[0]: 'type' must be one of"),
        ({"type": "api", "name": "A", "path": "/x", "flows": "orders"}, "'flows' must be a list of strings"),
        (
            {"type": "event", "name": "E", "topic": "t", "condition": lambda i, c: True},
            "not supported on subscribe",
        ),
    ],
)
def test_invalid_configs_are_explained(config: dict, expected: str) -> None:
    with pytest.raises(StepError) as error:
        build_step(config, handler, "bad_step.py")
    assert expected in str(error.value)
    assert error.value.path == "bad_step.py"


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(StepError) as error:
        build_step({"type": "api", "method": "NOPE"}, "not callable", "bad_step.py")
    message = str(error.value)
    assert "'name'" in message and "'handler' must be a function" in message and "'method'" in message


def _write(folder: Path, name: str, source: str) -> None:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))


def test_loader_skips_broken_files_and_keeps_the_others(tmp_path: Path) -> None:
    steps = tmp_path / "steps"
    _write(
        steps, "good_step.py", "config = {'type': 'noop', 'name': 'Good'}\nasync def handler(i, c): pass\n"
    )
    _write(
        steps, "nested/also.step.py", "config = {'type': 'noop', 'name': 'Nested'}\ndef handler(i, c): pass\n"
    )
    _write(steps, "syntax_step.py", "config = {\n")
    _write(steps, "raises_step.py", "raise RuntimeError('no database')\n")
    _write(steps, "nohandler_step.py", "config = {'type': 'noop', 'name': 'NoHandler'}\n")
    _write(
        steps, "invalid_step.py", "config = {'type': 'api', 'name': 'Bad'}\nasync def handler(i, c): pass\n"
    )
    _write(
        steps, "zz_dup_step.py", "config = {'type': 'noop', 'name': 'Good'}\nasync def handler(i, c): pass\n"
    )
    _write(steps, "helpers.py", "raise RuntimeError('not a step: never imported')\n")
    _write(steps, "__pycache__/x_step.py", "raise RuntimeError('cache')\n")

    result = load_steps(steps)
    assert sorted(s.name for s in result.steps) == ["Good", "Nested"]
    reasons = {Path(e.path).name: e.reason for e in result.errors}
    assert reasons["syntax_step.py"].startswith("failed to import: SyntaxError")
    assert reasons["raises_step.py"] == "failed to import: RuntimeError: no database (line 1)"
    assert reasons["nohandler_step.py"] == "does not define 'handler'"
    assert "'path' must be a non-empty string" in reasons["invalid_step.py"]
    assert "already used by" in reasons["zz_dup_step.py"]
    assert len(reasons) == 5


def test_check_command_lists_functions_and_errors(tmp_path: Path) -> None:
    _write(
        tmp_path,
        "hello_step.py",
        "config = {'type': 'api', 'name': 'Hello', 'path': '/hi'}\ndef handler(r, c): pass\n",
    )
    _write(tmp_path, "broken_step.py", "import does_not_exist\n")
    outcome = subprocess.run(
        [str(Path(sys.executable).parent / "iii-steps"), "check", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert outcome.returncode == 1
    assert "steps::Hello::trigger::http(GET /hi)" in outcome.stdout
    assert "broken_step.py: failed to import: ModuleNotFoundError" in outcome.stderr


def test_http_responses() -> None:
    request = ApiRequest()
    assert to_http_response({"status": 201, "body": {"id": 1}, "headers": {"x-a": "1"}}, request) == {
        "status_code": 201,
        "body": {"id": 1},
        "headers": {"x-a": "1"},
    }
    assert to_http_response({"status_code": 404}, request) == {"status_code": 404, "body": None}
    assert to_http_response({"id": 1}, request) == {"status_code": 200, "body": {"id": 1}}
    assert to_http_response([1, 2], request) == {"status_code": 200, "body": [1, 2]}
    assert to_http_response(None, request) == {"status_code": 200, "body": None}
