"""The sanity ladder of docs/evaluation.md: does the metric order image sets of known quality correctly?

    python scripts/sanity_ladder.py                                   # real, degraded and noise sets
    python scripts/sanity_ladder.py --dataset mnist --run short=runs/a --run long=runs/b -n 10000

Every set has n images of the dataset's official test split and is scored against the cached reference of its
training split in the shipped classifier's feature space (or --features inception with its weights). Prints a Markdown table:
FID, KID, precision, recall, classes covered. Runs given with --run are sampled like `dcgan eval` does.
"""

from __future__ import annotations

import argparse
import sys
import time


def main() -> int:
    from dcgan.data import load_dataset
    from dcgan.datasets import DATASETS
    from dcgan.errors import DcganError
    from dcgan.metrics.evaluate import evaluate_generator, evaluate_images
    from dcgan.metrics.features import resolve_features
    from dcgan.metrics.ladder import ladder_sets
    from dcgan.metrics.reference import reference_statistics
    from dcgan.sampling import load_generator

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", type=int, default=10000, help="images per set (default: 10000, the test split)")
    p.add_argument("--run", action="append", default=[], metavar="NAME=PATH",
                   help="also score a run's generator (repeatable)")
    p.add_argument("--features", default="classifier", choices=("classifier", "inception", "auto"))
    p.add_argument("--dataset", default="fashion-mnist", choices=list(DATASETS),
                   help="the dataset whose test split makes the sets (default: fashion-mnist)")
    p.add_argument("--data-dir", default="data")
    args = p.parse_args()

    def say(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        size, channels = DATASETS[args.dataset].image_size, DATASETS[args.dataset].channels
        extractor = resolve_features(args.features, args.dataset)
        train = load_dataset(args.dataset, args.data_dir, size, channels, split="train")
        test = load_dataset(args.dataset, args.data_dir, size, channels, split="test")
        reference = reference_statistics(args.dataset, train, extractor, progress=say)
        images, labels = test.images[:args.n], test.labels[:args.n]
        rows = []
        for name, make in ladder_sets(images, labels):
            start = time.perf_counter()
            rows.append((name, evaluate_images(make(), extractor, reference)))
            say(f"{name}: {time.perf_counter() - start:.1f} s")
        for spec in args.run:
            name, _, path = spec.partition("=")
            g = load_generator(path)
            report = evaluate_generator(g, extractor, reference, samples=len(images), real_labels=train.labels)
            rows.append((f"{name} (step {g.step})", report))
            say(f"{name}: {report.seconds:.1f} s")
    except DcganError as e:
        print(f"sanity_ladder: error: {e}", file=sys.stderr)
        return 2

    print(f"{args.dataset}; feature space: {extractor.name}; {len(images)} images per set; reference: "
          f"{reference.count} real training images.\n")
    print("| set | FID | KID | precision | recall | classes covered |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, report in rows:
        m = report.metrics
        covered = f"{m['classes_covered']:.0f}/{m['num_classes']:.0f}" if "classes_covered" in m else "-"
        print(f"| {name} | {m['fid']:.3f} | {m['kid']:.4f} | {m['precision']:.3f} | {m['recall']:.3f} | "
              f"{covered} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
