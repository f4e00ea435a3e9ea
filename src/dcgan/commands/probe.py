"""`dcgan probe`: how good are D's features for classification with few labels? (Radford et al. 2015, 5.1)"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dcgan.commands import add_checkpoint_option


def register(p) -> None:
    p.description = ("Fit a linear L2-SVM on the trained D's features (every block max-pooled to "
                     "4x4, flattened and concatenated; Radford et al. 2015, section 5.1) with a few labels "
                     "per class, and report its test accuracy beside the same probe on the D the run started "
                     "from (same architecture, the run's seed) and on raw pixels. Needs a labelled dataset: "
                     "mnist, fashion-mnist, cifar10 (scored on their test split) or a folder of class folders "
                     "(scored on the images not used for fitting).")
    p.add_argument("target", help="runs/<name> or a checkpoint .pt file (the probe needs D, which "
                   "generator.safetensors lacks)")
    p.add_argument("--labels-per-class", type=int, default=100, help="labelled images per class the probes "
                   "are fitted on (default: 100)")
    p.add_argument("--seed", type=int, default=0, help="seed of the labelled subset and the classifier "
                   "(default: 0): the same seed repeats the numbers")
    p.add_argument("--test-count", type=int, metavar="N", help="score on N held-out images drawn at random "
                   "(default: all of them)")
    p.add_argument("--data-dir", metavar="DIR", help="where the dataset lives (default: the run's --data-dir)")
    p.add_argument("--json", metavar="FILE", help="also write the result as JSON")
    add_checkpoint_option(p)
    p.add_argument("--device", default="cpu", help="device to compute D's features on (default: cpu)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from dcgan.device import resolve_device
    from dcgan.probe import run_probe
    from dcgan.rundir import checkpoint_in

    result = run_probe(checkpoint_in(args.target, args.checkpoint) or args.target,
                       labels_per_class=args.labels_per_class, seed=args.seed, test_count=args.test_count,
                       data_dir=args.data_dir, device=resolve_device(args.device))
    print(f"{result.checkpoint} (step {result.step})")
    print(result.table())
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        print(f"wrote {path}")
    return 0
