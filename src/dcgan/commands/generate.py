"""`dcgan generate`: images from a run folder, a checkpoint or an exported generator."""

from __future__ import annotations

import argparse
from pathlib import Path

from dcgan.commands import CLASS_HELP, add_generator_options, class_label, open_generator
from dcgan.errors import ConfigError


def register(p) -> None:
    p.description = "Generate images from a run folder, a checkpoint or generator.safetensors."
    p.add_argument("-n", "--count", type=int, help="how many images (default: 64; --by-class takes --per-class)")
    p.add_argument("--seed", type=int, default=None, help="noise seed, from 0 to 2**63 - 1: the same seed gives the "
                   "same images (default: a random one, which the output line names)")
    p.add_argument("--by-class", action="store_true", help="a conditional run's class grid: one row per class, "
                   "--per-class columns sharing their noise down each column")
    p.add_argument("--per-class", type=int, metavar="N", help="columns of --by-class, 1 to 100 (default: 10)")
    p.add_argument("--grid", metavar="PNG", help="write one grid image, a .png (or another image type: .jpg, "
                   ".webp, ...) (default when no output is given: generated.png; generated-class7-Sneaker.png with "
                   "--class, generated-by-class.png with --by-class)")
    p.add_argument("--scale", type=int, default=1, metavar="S", help="enlarge the grid's pixels S times, 1 to 16, "
                   "sharp (nearest neighbour): 28x28 images are small on a projector (default: 1)")
    p.add_argument("--out-dir", metavar="DIR", help="write one PNG per image, 00000.png, 00001.png, ..., into DIR, "
                   "which must not exist yet or be empty (it is written complete or not at all, so no image of "
                   "an earlier run is overwritten or left beside the new ones)")
    p.add_argument("--npy", metavar="FILE", help="write a uint8 array N x C x H x W to FILE, which ends in .npy")
    add_generator_options(p, class_help=CLASS_HELP + " (default: the classes in turn)")
    p.set_defaults(func=run)


def check_out_dir(path: str, flag: str = "--out-dir") -> None:
    """A folder of generated files must not exist yet or be empty, as `dcgan export` asks of its --out."""
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{flag} {out} is a file: give a folder that does not exist yet or is empty",
                          field=flag.lstrip("-"))
    if out.is_dir() and any(out.iterdir()):
        raise ConfigError(f"{flag} {out} already holds files: choose a new or empty folder (or remove it), so no "
                          f"earlier image is overwritten or left among the new ones", field=flag.lstrip("-"))


def check_output_file(path: str, flag: str, suffix: str) -> None:
    """An output file's path: not a folder, and ending in `suffix`."""
    if Path(path).is_dir():
        raise ConfigError(f"{flag} {path} is a folder: give a file name, e.g. {flag} {Path(path) / ('out' + suffix)}",
                          field=flag.lstrip("-"))
    if Path(path).suffix.lower() != suffix:
        raise ConfigError(f"{flag} {path}: the file name must end in {suffix}", field=flag.lstrip("-"))


def write_pngs(images, out: Path) -> None:
    """One PNG per image into `out` (new or empty), written in a temporary sibling folder and renamed into
    place: `out` ends complete or as it was."""
    from PIL import Image

    from dcgan.checkpoint import atomic_folder

    with atomic_folder(out) as tmp:
        for i, image in enumerate(images.numpy()):
            Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(tmp / f"{i:05d}.png")


def run(args: argparse.Namespace) -> int:
    import io
    import secrets

    import numpy as np

    from dcgan.checkpoint import atomic_write_bytes
    from dcgan.commands.mix import check_seed
    from dcgan.images import image_format
    from dcgan.latent import class_tag

    # Check everything the user typed before loading anything.
    if args.by_class and args.count is not None:
        raise ConfigError(f"--by-class draws --per-class images of each class (default: 10), not -n {args.count}: "
                          f"give --per-class N (or drop --by-class)", field="count")
    count = 64 if args.count is None else args.count
    if not 1 <= count <= 100000:
        raise ConfigError(f"-n must be between 1 and 100000, got {count}")
    check_seed(args.seed, "--seed")
    if args.by_class and args.class_id is not None:
        raise ConfigError("--by-class draws every class, one per row; drop --class (or --by-class)")
    if args.per_class is not None and not args.by_class:
        raise ConfigError("--per-class sets the columns of --by-class's class grid: add --by-class (or give the "
                          "number of images with -n)")
    if not 1 <= args.scale <= 16:
        raise ConfigError(f"--scale must be from 1 to 16, got {args.scale}")
    if args.npy:
        check_output_file(args.npy, "--npy", ".npy")
    if args.out_dir:
        check_out_dir(args.out_dir)
    if args.grid:
        image_format(args.grid, "--grid")  # before generating

    g, label = open_generator(args)
    # Without --seed a random one, said below: a grid worth keeping can be drawn again (and a short one typed).
    seed = args.seed if args.seed is not None else secrets.randbelow(1_000_000)
    if args.by_class:
        images = g.by_class(args.per_class or 10, seed=seed)
    else:
        images = g.sample(count, seed=seed, label=label)
    images.scale = args.scale
    # The default name says what was drawn, so a second class's grid does not overwrite the first's.
    grid = args.grid or (None if args.npy or args.out_dir else
                         "generated-by-class.png" if args.by_class else f"generated{class_tag(g, label)}.png")
    written = []
    if args.npy:
        buffer = io.BytesIO()
        np.save(buffer, images.numpy())
        atomic_write_bytes(args.npy, buffer.getvalue())
        written.append(str(args.npy))
    if args.out_dir:
        write_pngs(images, Path(args.out_dir))
        written.append(f"{args.out_dir}/ ({len(images)} PNGs)")
    if grid:
        images.save(grid)
        written.append(str(grid))
    what = (f" of class {class_label(g, label)}" if label is not None else
            f", one row per class ({g.num_classes})" if args.by_class else "")
    print(f"generated {len(images)} images{what} at {g.config.image_size}x{g.config.image_size} from {g.source} "
          f"(step {g.step}), seed {seed}: {', '.join(written)}")
    return 0
