"""Module entries: keys beside `class`/`config` are reported with their line, not silently lost."""

from __future__ import annotations

from iii_engine.config import parse_config

TEXT = """\
port: 49555
modules:
  - class: modules::state::StateModule
    adapter: {class: modules::state::adapters::RedisAdapter}
  - class: modules::queue::QueueModule
    config: {}
"""


def test_a_misplaced_module_setting_is_reported_with_file_and_line() -> None:
    config = parse_config(TEXT, "config.yaml")
    assert [entry.class_name for entry in config.modules] == [
        "modules::state::StateModule",
        "modules::queue::QueueModule",
    ]
    assert len(config.warnings) == 1
    assert config.warnings[0].startswith("config.yaml:4: modules[0].adapter is ignored")
    assert "under 'config:'" in config.warnings[0]
