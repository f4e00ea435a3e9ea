"""`dcgan arithmetic`: G(mean(A) - mean(B) + mean(C)) for groups of seeds, drawn like the paper's figure 7."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from dcgan.commands import add_generator_options, class_label, open_generator
from dcgan.errors import ConfigError

CLASS_PREFIX = "class:"


def parse_group(text: str, flag: str) -> list[int] | str:
    """'1,2,3' or '1-3' -> seeds [1, 2, 3]; 'class:7' or 'class:sneaker' -> the class, picked later by
    prediction."""
    from dcgan.commands.mix import parse_seeds

    text = text.strip()
    if text.lower().startswith(CLASS_PREFIX):
        spec = text[len(CLASS_PREFIX):].strip()
        if not spec:
            raise ConfigError(f"{flag} class: needs a class number or name, e.g. {flag} class:7")
        return spec
    return parse_seeds(text, flag, alternatives=f", or a predicted class (e.g. {flag} class:7 or {flag} "
                                                f"class:sneaker)")


def check_class_groups(g, flags: list[str]) -> None:
    """class:K groups need the domain classifier of the run's dataset: say so in arithmetic's terms (the
    evaluation's own message offers eval options arithmetic does not have)."""
    from dcgan.metrics.features import classifier_file, find_classifier, user_cache
    from dcgan.metrics.registry import CLASSIFIER_DATASETS

    dataset = g.config.dataset
    if dataset not in CLASSIFIER_DATASETS:
        raise ConfigError(f"{flags[0]} class:... picks seeds by a domain classifier, which exists for "
                          f"{' and '.join(CLASSIFIER_DATASETS)} only; {g.source} trained on {dataset}: give "
                          f"seeds instead (e.g. {flags[0]} 1,2,3; `dcgan generate -n 1 --seed S` shows seed S)")
    if find_classifier(dataset) is None:
        raise ConfigError(f"{flags[0]} class:... picks seeds by the {dataset} classifier, which is not installed: "
                          f"train it with `dcgan train-classifier --dataset {dataset}` (it is written to "
                          f"{user_cache() / 'classifiers' / classifier_file(dataset)}), or give seeds instead")


def register(p) -> None:
    p.description = ("Average the noise vectors of each group, compute mean(A) - mean(B) + mean(C) "
                     "and generate it (Radford et al. 2015, section 6.3; the paper averages three samples per "
                     "group). A group is a list of seeds (pick them from `dcgan generate -n 1 --seed S` images) "
                     "or class:K / class:NAME: the first --per-group seeds whose images the run's domain "
                     "classifier (mnist, fashion-mnist) predicts as that class. Writes a figure like the "
                     "paper's figure 7, by default into the run's latent/ folder.")
    p.add_argument("--a", required=True, metavar="GROUP", help="group A: seeds (1,2,3 or a range 1-3) or class:K")
    p.add_argument("--b", required=True, metavar="GROUP", help="group B, subtracted: seeds or class:K")
    p.add_argument("--c", required=True, metavar="GROUP", help="group C, added: seeds or class:K")
    p.add_argument("--per-group", type=int, default=3, help="seeds per class:K group (default: 3, the paper's)")
    p.add_argument("--out", metavar="PNG", help="the figure, a .png file (default: RUN/latent/arithmetic-A-B-C.png, "
                   "arithmetic-A-B-C-classK-NAME.png with --class)")
    p.add_argument("--variations", type=int, default=8, help="extra samples around the result, each with "
                   "uniform noise added to its vector, as the paper's figure 7 (default: 8)")
    p.add_argument("--noise", type=float, default=0.25, help="scale of that noise (default: 0.25, the paper's)")
    p.add_argument("--seed", type=int, default=0, help="seed of that noise, from 0 to 2**63 - 1 (default: 0)")
    add_generator_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgan.checkpoint import atomic_write_bytes
    from dcgan.commands.generate import check_output_file
    from dcgan.commands.mix import check_seed
    from dcgan.latent import class_tag, output_dir, predicted_class_seeds

    specs = [parse_group(args.a, "--a"), parse_group(args.b, "--b"), parse_group(args.c, "--c")]
    if not 1 <= args.per_group <= 64:
        raise ConfigError(f"--per-group must be from 1 to 64, got {args.per_group}")
    check_seed(args.seed, "--seed")
    if args.out:
        check_output_file(args.out, "--out", ".png")
    g, label = open_generator(args)
    class_flags = [flag for flag, spec in zip(("--a", "--b", "--c"), specs) if not isinstance(spec, list)]
    if class_flags:
        check_class_groups(g, class_flags)
    groups = [spec if isinstance(spec, list) else
              predicted_class_seeds(g, spec, count=args.per_group, label=label) for spec in specs]
    result = g.arithmetic(*groups, variations=args.variations, noise_scale=args.noise, seed=args.seed, label=label)
    name = "-".join(re.sub(r"[^0-9A-Za-z]+", ".", t.strip()).strip(".") for t in (args.a, args.b, args.c))
    path = Path(args.out) if args.out else output_dir(g.source) / f"arithmetic-{name}{class_tag(g, label)}.png"
    if path.is_dir():  # the default name, taken by a folder
        raise ConfigError(f"{path} is a folder: give --out FILE.png")
    atomic_write_bytes(path, result.png_bytes())
    for letter, text, seeds in zip("ABC", (args.a, args.b, args.c), groups):
        picked = "" if isinstance(parse_group(text, ""), list) else f" ({text}, predicted)"
        print(f"  {letter}: seeds {','.join(map(str, seeds))}{picked}")
    of_class = f", all drawn as class {class_label(g, label)}" if label is not None else ""
    print(f"mean(A) - mean(B) + mean(C) from {g.source} (step {g.step}), with {args.variations} variations"
          f"{of_class}")
    print(f"  wrote {path}")
    return 0
