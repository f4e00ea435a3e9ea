"""`dcgan train-classifier`: the small CNN whose features and class predictions evaluate grey 28x28 runs offline."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from dcgan.errors import ConfigError


def register(p) -> None:
    from dcgan.metrics.registry import CLASSIFIER_DATASETS

    p.description = ("Train the small CNN classifier whose penultimate features give FID, KID and "
                     "precision/recall offline, and whose class predictions give the mode statistics "
                     "of `dcgan eval --features classifier`. Reports the official test-set accuracy "
                     "and writes safetensors weights with a JSON record next to them.")
    p.add_argument("--dataset", required=True, choices=CLASSIFIER_DATASETS, help="the dataset to classify")
    p.add_argument("--data-dir", default="data", help="where datasets live or are downloaded (default: data)")
    p.add_argument("--epochs", type=int, default=6, help="passes over the training set (default: 6)")
    p.add_argument("--augment", action="store_true", help="random flips and 2-pixel shifts of the training images "
                   "(helps wider networks; the default one underfits with it)")
    p.add_argument("--batch-size", type=int, default=128, help="images per step (default: 128)")
    p.add_argument("--lr", type=float, default=3e-3, help="peak learning rate of the one-cycle schedule "
                   "(default: 0.003)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--out", metavar="FILE", help="weights file (default: <dataset>-classifier.safetensors in the "
                   "user cache's classifiers/ folder, where `dcgan eval` finds it)")
    p.add_argument("--min-accuracy", type=float, default=None, help="fail (exit 2, nothing written) when the test "
                   "accuracy is below this fraction (default: 0.91 for fashion-mnist, 0.99 for mnist)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgan.console import progress_lines
    from dcgan.metrics.classifier import MIN_ACCURACY, save_classifier, train_classifier
    from dcgan.metrics.features import classifier_file, user_cache

    if args.epochs < 1:
        raise ConfigError(f"--epochs must be at least 1, got {args.epochs}")
    if args.batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1, got {args.batch_size}")
    minimum = MIN_ACCURACY[args.dataset] if args.min_accuracy is None else args.min_accuracy
    command = "dcgan " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "dcgan train-classifier"

    trained = train_classifier(args.dataset, args.data_dir, epochs=args.epochs, batch_size=args.batch_size,
                               lr=args.lr, seed=args.seed, augmentation=args.augment,
                               progress=progress_lines())
    trained.info["command"] = command
    print(f"{args.dataset} classifier: test accuracy {trained.test_accuracy:.2%} on "
          f"{trained.info['test_images']} official test images ({trained.info['seconds']:.0f} s)")
    if trained.test_accuracy < minimum:
        raise ConfigError(f"test accuracy {trained.test_accuracy:.2%} is below the required {minimum:.0%}; nothing "
                          f"was written: train longer (--epochs) or lower --min-accuracy")
    out = Path(args.out) if args.out else user_cache() / "classifiers" / classifier_file(args.dataset)
    weights, record = save_classifier(trained, out)
    print(f"wrote {weights} ({weights.stat().st_size // 1024} KB) and {record}")
    return 0
