"""`dcgan arithmetic`: G(mean(A) - mean(B) + mean(C)) for groups of seeds, drawn like the paper's figure 7."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from dcgan.commands import add_checkpoint_option
from dcgan.errors import ConfigError

CLASS_PREFIX = "class:"


def parse_group(text: str, flag: str) -> list[int] | str:
    """'1,2,3' -> seeds [1, 2, 3]; 'class:7' or 'class:sneaker' -> the class, picked later by prediction."""
    text = text.strip()
    if text.lower().startswith(CLASS_PREFIX):
        spec = text[len(CLASS_PREFIX):].strip()
        if not spec:
            raise ConfigError(f"{flag} class: needs a class number or name, e.g. {flag} class:7")
        return spec
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds or any(s < 0 for s in seeds):
        raise ConfigError(f"{flag} takes a comma list of seeds (e.g. {flag} 1,2,3) or a predicted class (e.g. "
                          f"{flag} class:7 or {flag} class:sneaker); got {text!r}")
    return seeds


def register(p) -> None:
    p.description = ("Average the noise vectors of each group, compute mean(A) - mean(B) + mean(C) "
                     "and generate it (Radford et al. 2015, section 6.3; the paper averages three samples per "
                     "group). A group is a list of seeds (pick them from `dcgan generate -n 1 --seed S` images) "
                     "or class:K / class:NAME: the first --per-group seeds whose images the run's domain "
                     "classifier (mnist, fashion-mnist) predicts as that class. Writes a figure like the "
                     "paper's figure 7, by default into the run's latent/ folder.")
    p.add_argument("target", help="runs/<name>, a checkpoint .pt file or a generator.safetensors")
    p.add_argument("--a", required=True, metavar="GROUP", help="group A: seeds (1,2,3) or class:K")
    p.add_argument("--b", required=True, metavar="GROUP", help="group B, subtracted: seeds or class:K")
    p.add_argument("--c", required=True, metavar="GROUP", help="group C, added: seeds or class:K")
    p.add_argument("--per-group", type=int, default=3, help="seeds per class:K group (default: 3, the paper's)")
    p.add_argument("--out", metavar="PNG", help="the figure (default: RUN/latent/arithmetic-A-B-C.png)")
    p.add_argument("--variations", type=int, default=8, help="extra samples around the result, each with "
                   "uniform noise added to its vector, as the paper's figure 7 (default: 8)")
    p.add_argument("--noise", type=float, default=0.25, help="scale of that noise (default: 0.25, the paper's)")
    p.add_argument("--seed", type=int, default=0, help="seed of that noise (default: 0)")
    p.add_argument("--class", dest="class_id", type=int, metavar="K", help="class to draw, for a conditional run")
    add_checkpoint_option(p)
    p.add_argument("--device", default="cpu", help="device to generate on (default: cpu)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgan.device import resolve_device
    from dcgan.latent import output_dir, predicted_class_seeds
    from dcgan.rundir import checkpoint_in
    from dcgan.sampling import load_generator

    specs = [parse_group(args.a, "--a"), parse_group(args.b, "--b"), parse_group(args.c, "--c")]
    if not 1 <= args.per_group <= 64:
        raise ConfigError(f"--per-group must be from 1 to 64, got {args.per_group}")
    g = load_generator(checkpoint_in(args.target, args.checkpoint) or args.target, device=resolve_device(args.device))
    groups = [spec if isinstance(spec, list) else
              predicted_class_seeds(g, spec, count=args.per_group, label=args.class_id) for spec in specs]
    result = g.arithmetic(*groups, variations=args.variations, noise_scale=args.noise, seed=args.seed,
                          label=args.class_id)
    name = "-".join(re.sub(r"[^0-9A-Za-z]+", ".", t.strip()).strip(".") for t in (args.a, args.b, args.c))
    path = result.save(Path(args.out) if args.out else output_dir(g.source) / f"arithmetic-{name}.png")
    for letter, text, seeds in zip("ABC", (args.a, args.b, args.c), groups):
        picked = "" if isinstance(parse_group(text, ""), list) else f" ({text}, predicted)"
        print(f"  {letter}: seeds {','.join(map(str, seeds))}{picked}")
    print(f"mean(A) - mean(B) + mean(C) from {g.source} (step {g.step}), with {args.variations} variations")
    print(f"  wrote {path}")
    return 0
