"""`dcgan attribute`: find the direction in z that makes G's images more of a class, and slide along it."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from dcgan.commands import add_generator_options, class_label, open_generator
from dcgan.commands.mix import check_seed, parse_seeds


def register(p) -> None:
    p.description = ("Attribute manipulation without hand-picked seeds (docs/latent.md): draw "
                     "--samples noise vectors, score G's images with the domain classifier of dcgan's "
                     "evaluation (mnist, fashion-mnist), fit the class's log-odds linearly in z (InterFaceGAN, "
                     "Shen et al. 2020) and move each start seed's z along that direction. Writes a strip PNG "
                     "(one row per start seed) and prints the classifier's probability of the class along it.")
    p.add_argument("--toward", required=True, metavar="CLASS", help="the class to move toward: a number or a name "
                   "(e.g. sneaker)")
    p.add_argument("--steps", type=int, default=10, help="images per row, the start included (default: 10)")
    p.add_argument("--from", dest="seeds", default="0", metavar="SEEDS", help="start seeds, one row each: a "
                   "comma list or a range (default: 0)")
    p.add_argument("--distance", type=float, default=3.0, help="how far to slide, in standard deviations of z "
                   "along the direction (default: 3)")
    p.add_argument("--samples", type=int, default=2000, help="sampled z the direction is fitted on (default: 2000)")
    p.add_argument("--fit-seed", type=int, default=0, help="seed of those samples (default: 0)")
    p.add_argument("--out", metavar="PNG", help="the strip (default: RUN/latent/attribute-CLASS-SEEDS.png, "
                   "attribute-CLASS-SEEDS-classK-NAME.png with --class)")
    add_generator_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgan.images import image_format
    from dcgan.latent import class_tag, class_word, output_dir

    seeds = parse_seeds(args.seeds, "--from")
    check_seed(args.fit_seed, "--fit-seed")
    if args.out:
        image_format(args.out, "--out")  # before the fit
    g, label = open_generator(args)
    result = g.attribute(args.toward, seeds, steps=args.steps, distance=args.distance, samples=args.samples,
                         fit_seed=args.fit_seed, label=label)
    d = result.direction
    name = re.sub(r"[^\w.]+", "-", class_word(d.class_name)).strip("-") or str(d.class_id)
    path = result.save(Path(args.out) if args.out else output_dir(g.source) /
                       f"attribute-{name}-{args.seeds.replace(',', '.')}{class_tag(g, label)}.png")
    drawn = f", G drawing class {class_label(g, label)}" if label is not None else ""
    print(f"direction toward class {d.class_id} ({d.class_name}) from {g.source} (step {g.step}){drawn}, fitted on "
          f"{d.samples} samples: held-out R^2 {d.r2:.2f}, log-odds +{d.slope:.2f} per standard deviation")
    for seed, p in zip(result.seeds, result.probabilities.tolist()):
        print(f"  seed {seed}: p({d.class_name}) " + " ".join(f"{v:.2f}" for v in p))
    print(f"  wrote {path}")
    return 0
