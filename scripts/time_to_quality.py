"""Time to quality (docs/performance.md): how long our training needs to reach the FID that the textbook loop
reaches after one 64x64 epoch, with the same evaluation for both.

    python scripts/textbook_epoch.py --image-size 64 --batch-size 64 --out runs/textbook-64   # ~20 min
    python scripts/time_to_quality.py --target-run runs/textbook-64                            # ours, same FID
    python scripts/time_to_quality.py --target-fid 30 --preset cpu-fast --max-steps 2000

Our run is a real `Trainer` run that writes a checkpoint every --checkpoint-every steps; the wall clock of each
checkpoint is taken from before the trainer is built (so it includes loading the data and the models) and
evaluation happens afterwards, so it does not count as training time. Every checkpoint and the target are
scored by `dcgan eval`'s code (dcgan.metrics.evaluate.evaluate_run) on the same number of samples with the same
features (the shipped Fashion-MNIST classifier; 64x64 images are resized to its 28x28 input).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ablation import parse_value  # scripts/ is on the path of a script run from it
from dcgan.config import apply_preset
from dcgan.events import CheckpointSaved
from dcgan.metrics.evaluate import evaluate_run
from dcgan.training import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    target = parser.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-run", help="a run folder to score (the textbook epoch); its textbook.json "
                                             "gives its training time")
    target.add_argument("--target-fid", type=float)
    parser.add_argument("--target-seconds", type=float, help="the target's training time, instead of the "
                        "one in its textbook.json (e.g. its steps at the images/s of a quiet `dcgan bench`)")
    parser.add_argument("--preset", help="a training preset for our run, e.g. cpu-fast")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE",
                        help="training options of our run (config field names), e.g. g_width=32")
    parser.add_argument("--max-steps", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=0, help="also end training after this many minutes "
                                                                  "(the preset's time budget, e.g. cpu-fast's 5)")
    parser.add_argument("--checkpoint-every", type=int, default=50)
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="runs/time-to-quality")
    args = parser.parse_args()

    if args.target_run:
        report = evaluate_run(args.target_run, samples=args.samples, features="classifier", seed=args.seed)
        target_fid = report.metrics["fid"]
        textbook = json.loads((Path(args.target_run) / "textbook.json").read_text())
        target_seconds = args.target_seconds or textbook["seconds"]
        print(f"target: {args.target_run}  FID {target_fid:.2f}  after {target_seconds:.0f} s of training "
              f"({textbook['images_per_s']:.1f} images/s)", flush=True)
    else:
        target_fid, target_seconds = args.target_fid, None

    options = {k: parse_value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    config = apply_preset(args.preset, {**options, "steps": args.max_steps, "epochs": None, "minutes": args.minutes,
                                        "seed": args.seed, "checkpoint_every": args.checkpoint_every,
                                        "keep_checkpoints": 1000,
                                        "sample_every": args.max_steps, "tensorboard": False})
    checkpoints: list[tuple[int, float, str]] = []
    start = time.perf_counter()

    def on_event(event) -> None:
        if isinstance(event, CheckpointSaved):
            checkpoints.append((event.step, time.perf_counter() - start, event.path))

    Trainer(config, run_dir=args.out, subscribers=[on_event], origin="scripts/time_to_quality.py").run()
    print(f"trained {checkpoints[-1][0]} steps in {time.perf_counter() - start:.0f} s; scoring "
          f"{len(checkpoints)} checkpoints", flush=True)

    print("| step | wall time (s) | FID |\n|---|---|---|")
    reached = None
    for step, seconds, path in checkpoints:
        fid = evaluate_run(args.out, checkpoint=path, samples=args.samples, features="classifier",
                           seed=args.seed, write=False).metrics["fid"]
        print(f"| {step} | {seconds:.1f} | {fid:.2f} |", flush=True)
        if reached is None and fid <= target_fid:
            reached = (step, seconds, fid)
    if reached is None:
        print(f"\nFID {target_fid:.2f} not reached in {checkpoints[-1][0]} steps ({checkpoints[-1][1]:.0f} s)")
        return
    step, seconds, fid = reached
    ratio = f"; {target_seconds / seconds:.1f}x sooner than the target's {target_seconds:.0f} s" if target_seconds \
        else ""
    print(f"\nreached FID {fid:.2f} <= {target_fid:.2f} at step {step}, {seconds:.1f} s{ratio}")


if __name__ == "__main__":
    main()
