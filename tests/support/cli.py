"""Test support: the ``ekarta`` parser tree, walked command by command.

:func:`commands` yields every leaf command of :func:`ekarta.cli.build_parser` as its words
(``("card", "issue")``) and its parser, so that a test holds for commands added later without a
list to keep up; :func:`run` runs a command line in-process, :func:`ekarta` one that must
succeed.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

from ekarta.cli import build_parser, main

__all__ = ["commands", "defaults", "ekarta", "option", "run"]


def run(capsys, *argv: str) -> tuple[int, str, str]:
    """``ekarta ARGV`` in this process: its exit status, standard output and standard error."""
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def ekarta(capsys, *argv: str) -> str:
    """``ekarta ARGV`` in this process, which must succeed; its standard output."""
    code, out, err = run(capsys, *argv)
    assert code == 0, (argv, err)
    return out


def _subparsers(parser: argparse.ArgumentParser) -> argparse._SubParsersAction | None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action
    return None


def commands(
    parser: argparse.ArgumentParser | None = None, words: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every leaf command under ``parser`` (default: the whole command line)."""
    parser = parser or build_parser()
    sub = _subparsers(parser)
    if sub is None:
        yield words, parser
        return
    for name, child in sub.choices.items():
        yield from commands(child, (*words, name))


def option(parser: argparse.ArgumentParser, flag: str) -> argparse.Action | None:
    """The action of the option ``flag`` of ``parser``, None if it has none."""
    for action in parser._actions:
        if flag in action.option_strings:
            return action
    return None


def defaults(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """The namespace a command starts from before its arguments are parsed."""
    namespace = argparse.Namespace()
    for action in parser._actions:
        if action.dest is not argparse.SUPPRESS and action.default is not argparse.SUPPRESS:
            setattr(namespace, action.dest, action.default)
    for name, value in parser._defaults.items():
        setattr(namespace, name, value)
    return namespace
