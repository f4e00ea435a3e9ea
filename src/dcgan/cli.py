"""The `dcgan` command line: parse -> config -> run. Every DcganError becomes one line and exit code 2.

Each command lives in its own module under dcgan.commands with `register(parser)`; this file only lists them
(COMMANDS) and assembles the one asked for, so commands can be added without touching each other.
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import importlib
import re
import signal
import sys
import threading
from typing import Any, Sequence

from dcgan.errors import FLAG_STYLE, DcganError, disk_error

EXIT_USAGE = 2
# Each command's module (with `register(parser)`) and the line `dcgan --help` gives it, in the order it lists them.
# Only the named command's module is imported, so `dcgan --help` and a mistyped command answer at once: most
# commands import torch (two seconds or more).
COMMANDS = {
    "train": ("dcgan.commands.train", "train a DCGAN (or resume a run)"),
    "generate": ("dcgan.commands.generate", "generate images from a trained generator"),
    "export": ("dcgan.commands.export", "share a generator: ONNX, TorchScript, safetensors or a web page"),
    "interpolate": ("dcgan.commands.interpolate", "walk G's latent space between seeds (strip PNG, GIF, MP4)"),
    "arithmetic": ("dcgan.commands.arithmetic", "vector arithmetic on noise vectors: A - B + C"),
    "mix": ("dcgan.commands.mix", "style mixing: early blocks from one seed, later blocks' style from another"),
    "attribute": ("dcgan.commands.attribute", "slide samples along the direction in z that moves them toward a "
                  "class"),
    "probe": ("dcgan.commands.probe", "linear probe of D's features with few labels (paper section 5.1)"),
    "eval": ("dcgan.commands.eval", "measure sample quality: FID, KID, precision/recall, IS, mode collapse"),
    "train-classifier": ("dcgan.commands.train_classifier", "train the evaluation classifier for mnist or "
                         "fashion-mnist"),
    "info": ("dcgan.commands.info", "versions, devices and datasets available offline"),
    "fetch": ("dcgan.commands.fetch", "download a named dataset into the data home, for offline use"),
    "bench": ("dcgan.commands.bench", "measure training and generation speed against a textbook loop"),
    "serve": ("dcgan.commands.serve", "the live dashboard: train, watch and generate from a browser"),
}


class Parser(argparse.ArgumentParser):
    """argparse whose errors are one line that says what to do, with exit code 2. Options are taken whole, never
    abbreviated: `dcgan eval RUN --class 3` was read as `--classifier 3` (and refused as a missing weights file)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}{nearest_choice(message)} (see `{self.prog} --help`)\n")


def nearest_choice(message: str) -> str:
    """"; did you mean 'train'?" for argparse's "invalid choice: 'trian' (choose from 'train', ...)" (a command or an
    option's value) when one choice is near the word typed; else ""."""
    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if found is None:
        return ""
    choices = [c.strip().strip("'") for c in found.group(2).split(",")]
    near = difflib.get_close_matches(found.group(1), choices, n=1)
    return f"; did you mean '{near[0]}'?" if near else ""


def build_parser(argv: Sequence[str] | None = None) -> Parser:
    """The parser of `dcgan argv`: every command's options when argv is None, else only those of the command
    argv names (the others are listed, not built)."""
    from dcgan import __version__

    parser = Parser(prog="dcgan", description="Train, watch, evaluate and use DCGANs (Radford et al., 2015).")
    parser.add_argument("--version", action="version", version=f"dcgan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name, (module, help_line) in COMMANDS.items():
        command = sub.add_parser(name, help=help_line)
        if argv is None or argv[:1] == [name]:
            importlib.import_module(module).register(command)
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


def import_torch() -> None:
    """torch and torchvision, which the commands import (some lazily), with a Ctrl-C held back until they are
    loaded (a second or more)."""
    with ctrl_c_held_back():
        for library in ("torch", "torchvision"):
            importlib.import_module(library)


def main(argv: Sequence[str] | None = None) -> int:
    from dcgan.lifeline import honour_parent_env

    honour_parent_env()  # started by a dashboard server: end with it
    try:
        with ctrl_c_held_back():  # a second or more of imports
            argv = sys.argv[1:] if argv is None else list(argv)
            args = parse(build_parser(argv), argv)
        # The commands import them, some lazily: here for all, but for one that checks its options first and
        # imports them after (`dcgan serve`, `dcgan train`).
        if getattr(args, "imports_first", True):
            import_torch()
        # Errors name options as flags here; a server's answers name them as fields, as its API does.
        FLAG_STYLE["on"] = args.command != "serve"
        try:
            return args.func(args)
        except DcganError as e:
            print(f"dcgan {args.command}: error: {e}", file=sys.stderr)
            return getattr(e, "exit_code", EXIT_USAGE)
        except OSError as e:  # the disk, not the options: full, read-only, a folder gone
            print(f"dcgan {args.command}: error: {disk_error(e)}", file=sys.stderr)
            return 1
        finally:
            FLAG_STYLE["on"] = False
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
