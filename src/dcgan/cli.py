"""The `dcgan` command line: parse -> config -> run. Every DcganError becomes one line and exit code 2.

Each command lives in its own module under dcgan.commands with `register(subparsers)`; this file only
assembles them, so commands can be added without touching each other.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import signal
import sys
import threading
from typing import Sequence

from dcgan.errors import DcganError

EXIT_USAGE = 2
# The commands, in the order `dcgan --help` lists them.
COMMANDS = [
    "dcgan.commands.train",
    "dcgan.commands.generate",
    "dcgan.commands.export",
    "dcgan.commands.interpolate",
    "dcgan.commands.arithmetic",
    "dcgan.commands.mix",
    "dcgan.commands.attribute",
    "dcgan.commands.probe",
    "dcgan.commands.eval",
    "dcgan.commands.train_classifier",
    "dcgan.commands.info",
    "dcgan.commands.fetch",
    "dcgan.commands.bench",
    "dcgan.commands.serve",
]


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line that says what to do, with exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> Parser:
    from dcgan import __version__

    parser = Parser(prog="dcgan", description="Train, watch, evaluate and use DCGANs (Radford et al., 2015).")
    parser.add_argument("--version", action="version", version=f"dcgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS:
        importlib.import_module(name).register(sub)
    return parser


def parse(parser: Parser, argv: Sequence[str] | None) -> argparse.Namespace:
    """parse_args, except that options no command knows are reported by their command (argparse leaves them to
    `dcgan`), with the nearest option it has."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        command = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices[args.command]
        known = [s[2:] for action in command._actions for s in action.option_strings if s.startswith("--")]
        message = f"unrecognized arguments: {' '.join(unknown)}"
        for word in unknown:  # compared without the dashes, which every option shares
            near = difflib.get_close_matches(word.split("=")[0][2:], known, n=1) if word.startswith("--") else []
            if near:
                message += f"; did you mean --{near[0]}?"
                break
        command.error(message)
    return args


@contextlib.contextmanager
def ctrl_c_held_back():
    """Hold a Ctrl-C back until the block (the start-up's imports) is done, then raise it. A KeyboardInterrupt
    raised inside numpy's import, which torch's import makes, is swallowed by torch (numpy is optional to it), and
    the command then ran on: 3 of 3 Ctrl-C's sent while numpy loaded were lost and the run trained to its end; the
    half-loaded numpy also failed the next import of it."""
    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    pressed: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: pressed.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pressed:
        raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    from dcgan.lifeline import honour_parent_env

    honour_parent_env()  # started by a dashboard server: end with it
    try:
        with ctrl_c_held_back():  # a second or more of imports
            args = parse(build_parser(), argv)
            for library in ("torch", "torchvision"):  # the commands import them, some lazily: here for all
                importlib.import_module(library)
        try:
            return args.func(args)
        except DcganError as e:
            print(f"dcgan {args.command}: error: {e}", file=sys.stderr)
            return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def reference_markdown() -> str:
    """The CLI reference (docs/cli.md), generated from the real parser."""
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    parts = ["# Command-line reference", "",
             "Generated from the parser by `python -m dcgan.cli --reference > docs/cli.md`; a test checks it.", ""]
    for name, cmd in sub.choices.items():
        cmd.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=100)
        parts += [f"## dcgan {name}", "", "```", cmd.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    if sys.argv[1:] == ["--reference"]:
        print(reference_markdown(), end="")
        sys.exit(0)
    sys.exit(main())
