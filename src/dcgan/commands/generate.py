"""`dcgan generate`: images from a run folder, a checkpoint or an exported generator."""

from __future__ import annotations

import argparse
from pathlib import Path

from dcgan.commands import add_checkpoint_option
from dcgan.errors import ConfigError


def register(p) -> None:
    p.description = "Generate images from a run folder, a checkpoint or generator.safetensors."
    p.add_argument("target", help="runs/<name>, a checkpoint .pt file or a generator.safetensors")
    p.add_argument("-n", "--count", type=int, default=64, help="how many images (default: 64)")
    p.add_argument("--seed", type=int, default=None, help="noise seed: the same seed gives the same images")
    p.add_argument("--class", dest="class_id", type=int, metavar="K", help="class to draw, for a conditional "
                   "run (default: the classes in turn)")
    p.add_argument("--by-class", action="store_true", help="a conditional run's class grid: one row per class, "
                   "--per-class columns sharing their noise down each column")
    p.add_argument("--per-class", type=int, default=10, metavar="N", help="columns of --by-class (default: 10)")
    p.add_argument("--grid", metavar="PNG", help="write one grid image (default when no output is given: "
                   "generated.png)")
    p.add_argument("--out-dir", metavar="DIR", help="write one PNG per image")
    p.add_argument("--npy", metavar="FILE", help="write a uint8 array N x C x H x W")
    add_checkpoint_option(p)
    p.add_argument("--device", default="cpu", help="device to generate on (default: cpu)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    from PIL import Image

    from dcgan.device import resolve_device
    from dcgan.rundir import checkpoint_in
    from dcgan.sampling import load_generator

    if not 1 <= args.count <= 100000:
        raise ConfigError(f"-n must be between 1 and 100000, got {args.count}")
    if args.by_class and args.class_id is not None:
        raise ConfigError("--by-class draws every class, one per row; drop --class (or --by-class)")
    device = resolve_device(args.device)
    g = load_generator(checkpoint_in(args.target, args.checkpoint) or args.target, device=device)
    if args.by_class:
        images = g.by_class(args.per_class, seed=args.seed)
    else:
        images = g.sample(args.count, seed=args.seed, label=args.class_id)
    written = []
    if args.npy:
        path = Path(args.npy)
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, images.numpy())
        written.append(str(path))
    if args.out_dir:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for i, image in enumerate(images.numpy()):
            Image.fromarray(image[0] if image.shape[0] == 1 else image.transpose(1, 2, 0)).save(out / f"{i:05d}.png")
        written.append(f"{out}/ ({len(images)} PNGs)")
    if args.grid or not written:
        written.append(str(images.save(args.grid or "generated.png")))
    what = (f" of class {args.class_id}" if args.class_id is not None else
            f", one row per class ({g.num_classes})" if args.by_class else "")
    print(f"generated {len(images)} images{what} at {g.config.image_size}x{g.config.image_size} from {g.source} "
          f"(step {g.step}): {', '.join(written)}")
    return 0
