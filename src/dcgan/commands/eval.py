"""`dcgan eval`: sample quality of a run against its real data, as a table and eval.json."""

from __future__ import annotations

import argparse

from dcgan.commands import add_checkpoint_option
from dcgan.errors import ConfigError, DiskError, disk_error


def register(p) -> None:
    from dcgan.metrics.registry import FEATURE_SPACES, METRICS

    p.description = ("Generate samples from a run and compare them with its training data: FID, KID, "
                     "precision and recall (k=3), the Inception Score (or the domain classifier's "
                     "analogue), class coverage, diversity and nearest-neighbour copying. Prints a "
                     "table and writes eval.json into the run. See docs/evaluation.md.")
    p.add_argument("run", help="runs/<name>, a checkpoint .pt file or a generator.safetensors")
    p.add_argument("-n", "--samples", type=int, default=10000, help="generated samples to score, from 4 (precision "
                   "and recall compare each with its 3 nearest) to 100000 (default: 10000; FID is biased by the "
                   "count, so compare numbers made with the same -n)")
    add_checkpoint_option(p)
    p.add_argument("--features", choices=FEATURE_SPACES, default="auto",
                   help="feature space: inception (Inception-v3, needs its weights), classifier (the shipped "
                        "mnist/fashion-mnist CNN, offline) or auto (Inception when its weights are here, else the "
                        "classifier) (default: auto)")
    p.add_argument("--inception-weights", metavar="PATH", help="torch-fidelity's Inception-v3 weights file "
                   "(weights-inception-2015-12-05-6726825d.pth), for machines without internet")
    p.add_argument("--classifier", metavar="PATH", help="classifier weights instead of the shipped or cached ones")
    p.add_argument("--metrics", metavar="LIST", help=f"a comma list of {', '.join(METRICS)} (default: all)")
    p.add_argument("--max-reference", type=int, metavar="N", help="real images for the reference statistics, at "
                   "least 4 (default: the whole training split; Inception on a CPU may want 10000)")
    p.add_argument("--seed", type=int, default=0, help="noise seed of the samples, from 0 to 2**63 - 1: sample i is "
                   "image i of `dcgan generate -n N --seed S` (default: 0)")
    p.add_argument("--device", default="cpu", help="device to generate and extract features on (default: cpu)")
    p.add_argument("--no-write", action="store_true", help="print the table only; leave eval.json alone")
    p.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    p.set_defaults(func=run)


def format_table(report) -> str:
    """The report as an aligned table: metric, value, what it means, then the provenance lines."""
    rows = report.rows()
    w1 = max(len(r[0]) for r in rows) if rows else 0
    w2 = max(len(r[1]) for r in rows) if rows else 0
    features = report.features
    lines = [f"features: {features['name']} ({features['dim']}-d)"
             + (f", test accuracy {features['test_accuracy']:.2%}" if "test_accuracy" in features else ""),
             f"samples: {report.samples} generated, {report.reference_images} real reference images"
             + (f", step {report.source['step']}" if "step" in report.source else ""), ""]
    lines += [f"{label:<{w1}}  {value:>{w2}}  {meaning}" for label, value, meaning in rows]
    hist = report.details.get("class_histogram")
    if hist and features.get("classes"):
        real = report.details.get("real_class_histogram", [])
        accuracy = report.details.get("class_accuracy")  # a conditional G's, per class asked for
        lines += ["", "class histogram (samples / real)" + (", class accuracy" if accuracy else "") + ":"]
        for i, name in enumerate(features["classes"]):
            line = (f"  {name:<{w1 - 2}}  {hist[i]:6.1%} / {real[i]:6.1%}" if real else
                    f"  {name:<{w1 - 2}}  {hist[i]:6.1%}")
            if accuracy:
                line += f"   {accuracy[i]:6.1%}" if accuracy[i] is not None else "        -"
            lines.append(line)
    for note in report.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    import json

    from dcgan.commands.mix import check_seed
    from dcgan.console import progress_lines
    from dcgan.metrics.evaluate import evaluate_run, write_report
    from dcgan.rundir import checkpoint_in

    check_seed(args.seed, "--seed")

    metrics = [m.strip() for m in args.metrics.split(",") if m.strip()] if args.metrics else None
    if metrics is not None and not metrics:
        raise ConfigError("--metrics is empty: give a comma list of metric names")

    report = evaluate_run(args.run, samples=args.samples, checkpoint=checkpoint_in(args.run, args.checkpoint),
                          features=args.features, inception_weights=args.inception_weights,
                          classifier=args.classifier, device=args.device, seed=args.seed, metrics=metrics,
                          max_reference=args.max_reference, write=False, progress=progress_lines())
    # Shown before eval.json is written: a disk that refuses the file loses no minutes of scoring.
    if args.json:
        print(json.dumps(report.to_dict(), indent=2), flush=True)
    else:
        print(format_table(report), flush=True)
    try:
        written = None if args.no_write else write_report(args.run, report)
    except OSError as e:  # a full or read-only disk: the scores above stand, and can be had without the file
        raise DiskError(f"{disk_error(e)} (the scores are above; --no-write prints them without writing "
                        f"eval.json)") from None
    if not args.json:
        print(f"\n{report.seconds:.1f} s" + (f"; wrote {written}" if written else ""))
    return 0
