"""`dcgan mix`: style mixing grids, G's early blocks from one seed's z and its later blocks' style from another's."""

from __future__ import annotations

import argparse
from pathlib import Path

from dcgan.commands import add_generator_options, class_label, open_generator
from dcgan.errors import ConfigError


# Every command that draws samples (generate, eval, interpolate, arithmetic, mix, attribute) checks its seeds with
# check_seed or parse_seeds, before anything loads (the bound is dcgan.config's, as the server's and the API's).
MAX_LISTED = 1000  # seeds one list or range may name: "0-99999999999" would otherwise build a list of 10^11


def check_seed(seed: int | None, flag: str) -> int | None:
    """A seed option's value, refused unless it is from 0 to 2**63 - 1 (None: no seed given, passes)."""
    from dcgan.config import check_noise_seed

    return seed if seed is None else check_noise_seed(seed, flag)


def parse_seeds(text: str, flag: str, alternatives: str = "") -> list[int]:
    """'0,1,2' or a range '0-5' (both ends included) -> seeds, each from 0 to 2**63 - 1, at most MAX_LISTED.
    `alternatives`: what else the option takes, for the error ("or a predicted class (e.g. --a class:7)")."""
    seeds: list[int] = []
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            lo, sep, hi = part.partition("-")
            first, last = (int(lo), int(hi)) if sep else (int(part), int(part))
            if last < first:
                raise ValueError(part)  # a backwards range: the syntax error below
            check_seed(first, flag), check_seed(last, flag)
            if len(seeds) + last - first + 1 > MAX_LISTED:
                raise ConfigError(f"{flag} {text} names {len(seeds) + last - first + 1} seeds: give at most "
                                  f"{MAX_LISTED}", field=flag.lstrip("-"))
            seeds += range(first, last + 1)
    except ValueError:
        seeds = []
    if not seeds:
        raise ConfigError(f"{flag} takes seeds: a comma list of seeds (e.g. {flag} 0,1,2) or a range ({flag} 0-5)"
                          f"{alternatives}, got {text!r}", field=flag.lstrip("-"))
    return seeds


def register(p) -> None:
    p.description = ("Style mixing for a DCGAN (docs/latent.md): the grid has the column seeds' "
                     "images (B) along the top and the row seeds' (A) down the left; each cell is A run through "
                     "G with its feature maps renormalised to B's per-channel statistics from block K on "
                     "(AdaIN, Huang & Belongie 2017), so the blocks before K come from A and the style of the "
                     "later ones from B (the mixing of Karras et al. 2019, section 3.1). Writes one PNG per "
                     "block, by default into the run's latent/ folder.")
    p.add_argument("--rows", default="0-5", metavar="SEEDS", help="seeds of source A, one per row (default 0-5)")
    p.add_argument("--cols", default="6-11", metavar="SEEDS", help="seeds of source B, one per column (default "
                   "6-11)")
    p.add_argument("--block", default="all", metavar="K", help="block(s) to mix from: a number, a comma list or "
                   "all (default: all, one grid each); 0 is G's first and smallest map, the last is its output")
    p.add_argument("--out", metavar="PREFIX", help="output path without suffix; -block<K>.png is added (default: "
                   "RUN/latent/mix-ROWS-COLS, and -classK-NAME with --class)")
    add_generator_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgan.latent import class_tag, output_dir
    from dcgan.mixing import block_shapes, check_block

    rows, cols = parse_seeds(args.rows, "--rows"), parse_seeds(args.cols, "--cols")
    g, label = open_generator(args)
    shapes = block_shapes(g.model)
    if args.block.strip().lower() == "all":
        blocks = list(range(len(shapes)))
    else:
        try:
            blocks = [int(b) for b in args.block.split(",") if b.strip()]
        except ValueError:
            blocks = []
        if not blocks:
            raise ConfigError(f"--block takes a block number, a comma list or all, got {args.block!r}")
    for block in blocks:
        check_block(g.model, block)
    name = f"mix-{args.rows}-{args.cols}".replace(",", ".") + class_tag(g, label)
    prefix = Path(args.out) if args.out else output_dir(g.source) / name
    if prefix.suffix.lower() == ".png":
        prefix = prefix.with_suffix("")
    grids = [g.mix(rows, cols, block, label=label) for block in blocks]  # a missing class fails before any line
    of_class = f", all of class {class_label(g, label)}" if label is not None else ""
    print(f"style mixing from {g.source} (step {g.step}): rows = seeds {','.join(map(str, rows))} (A), columns = "
          f"seeds {','.join(map(str, cols))} (B){of_class}")
    for block, grid in zip(blocks, grids):
        c, h, w = shapes[block]
        what = "the output, before Tanh" if block == len(shapes) - 1 else f"{c} maps of {h}x{w}"
        path = grid.save(f"{prefix}-block{block}.png")
        print(f"  block {block} ({what}): A before it, B's style from it on: wrote {path}")
    return 0
