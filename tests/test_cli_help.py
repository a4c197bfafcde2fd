"""Every command has help with a summary and a worked example (docs must not drift)."""

from __future__ import annotations

import click
from click.testing import CliRunner

from qa import __version__
from qa.cli import main


def _all_commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _all_commands(cmd, (*prefix, name))


def test_version():
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"qa, version {__version__}"


def test_top_level_help_lists_every_command():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in main.commands:
        assert name in result.output


def test_every_command_has_summary_and_example():
    runner = CliRunner()
    commands = list(_all_commands(main))
    assert commands, "no commands registered"
    for path, cmd in commands:
        assert cmd.help and cmd.help.strip(), f"qa {' '.join(path)} has no help"
        assert cmd.get_short_help_str(), f"qa {' '.join(path)} has no one-line summary"
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, result.output
        if not isinstance(cmd, click.Group):
            assert "Example" in result.output and "qa " in result.output, \
                f"qa {' '.join(path)} --help has no worked example"


def test_unknown_command_is_usage_error():
    result = CliRunner().invoke(main, ["frobnicate"])
    assert result.exit_code == 2
    assert "No such command 'frobnicate'" in result.output
