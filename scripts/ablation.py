"""The ablation of docs/techniques.md: each main training option against the defaults, the same budget of steps,
several seeds, scored by `dcgan eval`'s FID and class coverage (Fashion-MNIST classifier features).

    python scripts/ablation.py                                  # every variant, 3 seeds, 1000 steps at 28x28
    python scripts/ablation.py --variants default hinge ema --seeds 0 1 --steps 300 --samples 2000

Runs are real `Trainer` runs on Fashion-MNIST (loaded once and shared) written to --out; each is evaluated with
dcgan.metrics.evaluate.evaluate_run on --samples generated images against the cached training-set reference.
The table prints mean ± std over seeds; lower FID is better, coverage counts the classes that get at least a
tenth of their fair share of samples.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from dcgan.config import TrainConfig
from dcgan.data import load_dataset
from dcgan.metrics.evaluate import evaluate_run
from dcgan.training import Trainer

# Each variant is one change from the defaults (as data, like the presets).
VARIANTS: dict[str, dict] = {
    "default": {},
    "lsgan": {"loss": "lsgan"},
    "hinge": {"loss": "hinge"},
    "wgan-gp": {"loss": "wgan-gp", "d_steps": 5},
    "spectral-norm": {"spectral_norm": True},
    "label-smoothing 0.1": {"label_smoothing": 0.1},
    "instance-noise 0.1": {"instance_noise": 0.1},
    "TTUR (D 4e-4, G 1e-4)": {"lr_d": 4e-4, "lr_g": 1e-4},
    "ema 0.999": {"ema": 0.999},
    "diffaugment": {"diffaugment": "translation,cutout"},
    "d-dropout 0.3": {"d_dropout": 0.3},
    "cosine schedule": {"lr_schedule": "cosine"},
    "minibatch-discrimination 100": {"minibatch_discrimination": 100},
    "no minibatch-discrimination": {"minibatch_discrimination": 0},
    "feature-matching": {"feature_matching": True},
}


def parse_value(text: str):
    """'32' -> 32, 'true' -> True, 'cosine' -> 'cosine': option values as JSON where they parse."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.2f}"
    return f"{statistics.mean(values):.2f} ± {statistics.stdev(values):.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS), metavar="NAME")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=5000, help="generated images per evaluation")
    parser.add_argument("--base", default="", help="extra options for every run, e.g. 'g_width=32,d_width=32'")
    parser.add_argument("--out", default="runs/ablation")
    args = parser.parse_args()
    base = {k: parse_value(v) for k, v in (kv.split("=", 1) for kv in args.base.split(",") if kv)}
    data = load_dataset("fashion-mnist", "./data", 28, 1)
    rows = []
    for name in args.variants:
        fids, coverage, minutes = [], [], []
        for seed in args.seeds:
            config = TrainConfig.from_dict({**base, **VARIANTS[name], "dataset": "fashion-mnist", "image_size": 28,
                                            "steps": args.steps, "seed": seed, "sample_every": args.steps,
                                            "checkpoint_every": args.steps, "tensorboard": False})
            run_dir = Path(args.out) / f"{name.split()[0]}-s{seed}"
            start = time.perf_counter()
            Trainer(config, run_dir=run_dir, data=data, origin="scripts/ablation.py").run()
            minutes.append((time.perf_counter() - start) / 60)
            report = evaluate_run(run_dir, samples=args.samples, features="classifier", seed=seed)
            fids.append(report.metrics["fid"])
            coverage.append(report.metrics["classes_covered"])
            print(f"{name} seed {seed}: FID {fids[-1]:.2f}, classes covered {coverage[-1]:.0f}, "
                  f"{minutes[-1]:.1f} min", flush=True)
        rows.append((name, mean_std(fids), mean_std(coverage), statistics.mean(minutes)))
    print(f"\nFashion-MNIST 28x28, {args.steps} steps, batch {config.batch_size}, seeds {args.seeds}, "
          f"{args.samples} samples, classifier features")
    print("| variant | FID (lower is better) | classes covered / 10 | minutes per run |")
    print("|---|---|---|---|")
    for name, fid, cov, mins in rows:
        print(f"| {name} | {fid} | {cov} | {mins:.1f} |")
    print(f"\nreproduce: python scripts/ablation.py --variants {' '.join(repr(v) for v in args.variants)} --seeds "
          f"{' '.join(map(str, args.seeds))} --steps {args.steps} --samples {args.samples}"
          + (f" --base {args.base}" if args.base else ""))


if __name__ == "__main__":
    main()
