"""`dcgan interpolate`: a path between two seeds, or a loop through several, as a strip PNG, a GIF and an MP4."""

from __future__ import annotations

import argparse
from pathlib import Path

from dcgan.commands import add_generator_options, class_label, open_generator
from dcgan.errors import ConfigError

MEDIA_SUFFIXES = (".png", ".gif", ".mp4")


def register(p) -> None:
    p.description = ("Images along the path between two seeds' noise vectors (Radford et al. "
                     "2015, section 6.1), or with --walk along a closed loop through K seeds. Writes a strip "
                     "PNG (one row per path), a looping GIF and, when ffmpeg is on PATH, an MP4, by default "
                     "into the run's latent/ folder. Seed S names the image `dcgan generate -n 1 --seed S` "
                     "draws. For a conditional run, --to-class moves between two classes at one seed.")
    p.add_argument("--from", dest="from_seed", type=int, metavar="SEED",
                   help="seed of the first image, from 0 to 2**63 - 1 (with --walk: of the first point; default 0)")
    p.add_argument("--to", dest="to_seed", type=int, metavar="SEED", help="seed of the last image")
    p.add_argument("--steps", type=int, default=10, help="images per path, both ends included, at least 2 "
                   "(default: 10)")
    p.add_argument("--mode", default="slerp", help="slerp follows the sphere where N(0, I) puts its samples "
                   "(White 2016); lerp is a straight line (default: slerp)")
    p.add_argument("--walk", type=int, metavar="K", help="loop through K points: seeds --from, --from+1, ..., "
                   "--from+K-1 and back to the first")
    p.add_argument("--to-class", metavar="K", help="a conditional run: keep seed --from's noise and move the class "
                   "from --class to this one instead (the images between are G's input between the two classes' "
                   "embeddings, on a straight line: --mode does not apply)")
    p.add_argument("--out", metavar="PREFIX", help="output path without suffix (default: RUN/latent/"
                   "interpolation-FROM-TO-MODE or RUN/latent/walk-FROM-K-MODE, and -classK-NAME with --class; "
                   "interpolation-seedFROM-classK-NAME-to-classK-NAME with --to-class)")
    p.add_argument("--fps", type=float, default=10, help="frames per second of the GIF and MP4 (default: 10)")
    p.add_argument("--format", default="png,gif,mp4", metavar="LIST", help="files to write, a comma list of png "
                   "(the strip), gif and mp4; mp4 is skipped with a note when ffmpeg is missing (default: "
                   "png,gif,mp4)")
    add_generator_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgan.commands.mix import check_seed
    from dcgan.latent import MAX_FRAMES, check_mode, check_steps, class_tag, output_dir
    from dcgan.images import ffmpeg_path

    # Check everything the user typed before loading anything.
    check_mode(args.mode)
    check_steps(args.steps)
    formats = [f.strip().lower().lstrip(".") for f in args.format.split(",") if f.strip()]
    unknown = sorted(set(formats) - {"png", "gif", "mp4"})
    if unknown or not formats:
        raise ConfigError(f"--format takes a comma list of png, gif and mp4, got {args.format!r}")
    check_seed(args.from_seed, "--from")
    check_seed(args.to_seed, "--to")
    if not 0.1 <= args.fps <= 100:  # a GIF frame lasts at most 655 s (16-bit centiseconds)
        raise ConfigError(f"--fps must be from 0.1 to 100, got {args.fps}")
    if args.to_class is not None:
        if args.class_id is None or args.from_seed is None or args.to_seed is not None or args.walk is not None:
            raise ConfigError("--to-class moves from --class to another class at one seed: give --from SEED, "
                              "--class K and --to-class K, without --to or --walk")
        name = f"interpolation-seed{args.from_seed}"
    elif args.walk is not None:
        if args.to_seed is not None:
            raise ConfigError("--walk K loops through seeds --from ... --from+K-1: drop --to")
        if args.walk < 2:
            raise ConfigError(f"--walk needs at least 2 points, got {args.walk}")
        if args.walk * (args.steps - 1) > MAX_FRAMES:  # before the walk lists its K seeds
            raise ConfigError(f"--walk {args.walk} points x {args.steps - 1} frames per leg is more than "
                              f"{MAX_FRAMES} frames; use fewer points or --steps")
        start = args.from_seed if args.from_seed is not None else 0
        check_seed(start + args.walk - 1, "--from + --walk - 1 (the last point's seed)")
        name = f"walk-{start}-{args.walk}-{args.mode}"
    elif args.from_seed is None or args.to_seed is None:
        raise ConfigError("give --from SEED and --to SEED for a path, or --walk K for a loop")
    else:
        name = f"interpolation-{args.from_seed}-{args.to_seed}-{args.mode}"

    g, label = open_generator(args)
    to_label = g.class_id(args.to_class) if args.to_class is not None else None
    name += class_tag(g, label) + (f"-to{class_tag(g, to_label)}" if to_label is not None else "")
    prefix = Path(args.out) if args.out else output_dir(g.source) / name
    if prefix.suffix.lower() in MEDIA_SUFFIXES:
        prefix = prefix.with_suffix("")
    missing_ffmpeg = "mp4" in formats and ffmpeg_path() is None
    suffixes = [f".{f}" for f in ("png", "gif", "mp4") if f in formats and not (f == "mp4" and missing_ffmpeg)]
    for suffix in suffixes:
        if Path(f"{prefix}{suffix}").is_dir():
            raise ConfigError(f"{prefix}{suffix} is a folder: choose another --out (a path without suffix)")
    if to_label is not None:
        result = g.interpolate_classes(args.from_seed, label, to_label, steps=args.steps)
    elif args.walk is not None:
        result = g.walk(args.walk, start=start, steps=args.steps, mode=args.mode, label=label)
    else:
        result = g.interpolate(args.from_seed, args.to_seed, steps=args.steps, mode=args.mode,
                               label=label)
    animated = [s for s in suffixes if s != ".png"]
    frames = f"; animation: {len(result.animation(scale=1))} frames at {args.fps:g} fps" if animated else ""
    if to_label is not None:
        print(f"{len(result)} images of seed {args.from_seed} from class {class_label(g, label)} to class "
              f"{class_label(g, to_label)} from {g.source} (step {g.step}){frames}")
    else:
        of_class = f" of class {class_label(g, label)}" if label is not None else ""
        print(f"{len(result)} images{of_class} along {args.mode} paths through seeds "
              f"{', '.join(map(str, result.seeds))} from {g.source} (step {g.step}){frames}")
    for suffix in suffixes:
        print(f"  wrote {result.save(f'{prefix}{suffix}', fps=args.fps)}")
    if missing_ffmpeg:
        print("  no MP4: ffmpeg is not on PATH (install it to get one)")
    return 0
