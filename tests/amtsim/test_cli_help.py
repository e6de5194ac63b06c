"""Every flag of every `python -m amtsim` command says what it does in `--help`."""

from __future__ import annotations

import argparse

from amtsim.__main__ import build_parser


def parsers(parser: argparse.ArgumentParser, name: str = "amtsim") -> list[tuple[str, argparse.ArgumentParser]]:
    found = [(name, parser)]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for command, subparser in action.choices.items():
                found += parsers(subparser, f"{name} {command}")
    return found


def test_every_flag_has_help() -> None:
    undocumented = [
        f"{name} {'/'.join(action.option_strings) or action.dest}"
        for name, parser in parsers(build_parser())
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert undocumented == []


def test_help_is_printed_for_every_command() -> None:
    for name, parser in parsers(build_parser()):
        assert parser.format_help().startswith("usage: "), name
