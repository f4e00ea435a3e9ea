"""FID against training steps for candidate recipes (how the defaults were chosen, docs/techniques.md).

    python scripts/fid_vs_steps.py --name b32-lr6 --set g_width=32 d_width=32 batch_size=32 lr=6e-4 \
        --steps 10000 --every 1000 --seeds 0 1
    python scripts/fid_vs_steps.py --name paper --preset paper --steps 2000 --every 500

FID after N steps does not depend on how busy the machine is; wall clock does. So each candidate is trained
(a real `Trainer` run, Fashion-MNIST loaded once) with a checkpoint every --every steps, and every checkpoint is
scored afterwards by `dcgan eval`'s code (classifier features, --samples generated images). Rows go to stdout
as a table and, one JSON object per checkpoint, to <out>/<name>.jsonl; `--steps-per-s` converts steps to time
with a speed measured separately (`dcgan bench ... --no-baseline`), so curves of different speeds compare.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from ablation import parse_value  # scripts/ is on the path of a script run from it
from dcgan.config import apply_preset
from dcgan.data import load_dataset
from dcgan.events import CheckpointSaved
from dcgan.metrics.evaluate import evaluate_run
from dcgan.training import Trainer

METRICS = ["fid", "pr", "modes"]


def score(run_dir: Path, checkpoint: str, samples: int, seed: int) -> dict:
    report = evaluate_run(run_dir, checkpoint=checkpoint, samples=samples, features="classifier", seed=seed,
                          metrics=METRICS, write=False)
    shares = report.details["class_histogram"]
    return {"fid": report.metrics["fid"], "precision": report.metrics["precision"],
            "recall": report.metrics["recall"], "class_min": min(shares), "class_max": max(shares)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--name", required=True, help="the candidate's name (its run folders and jsonl file)")
    parser.add_argument("--preset")
    parser.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config fields, e.g. lr=6e-4")
    parser.add_argument("--dataset", default="fashion-mnist")
    parser.add_argument("--steps", type=int, default=10000)
    parser.add_argument("--every", type=int, default=1000, help="steps between checkpoints (all are scored)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--samples", type=int, default=10000)
    parser.add_argument("--steps-per-s", type=float, help="a measured speed: adds a minutes column")
    parser.add_argument("--keep", action="store_true", help="keep the run folders (default: delete checkpoints)")
    parser.add_argument("--out", default="runs/fid-vs-steps")
    args = parser.parse_args()

    options = {k: parse_value(v) for k, v in (kv.split("=", 1) for kv in args.set)}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = None
    rows: dict[int, list[dict]] = {}
    for seed in args.seeds:
        config = apply_preset(args.preset, {"dataset": args.dataset, **options, "steps": args.steps, "epochs": None,
                                            "minutes": 0, "seed": seed, "checkpoint_every": args.every,
                                            "keep_checkpoints": 1000, "sample_every": args.steps,
                                            "tensorboard": False})
        resolved = config.resolved()
        if data is None:
            data = load_dataset(resolved.dataset, resolved.data_dir, resolved.image_size, resolved.channels)
        run_dir = out / f"{args.name}-s{seed}"
        checkpoints: list[tuple[int, float, str]] = []
        start = time.perf_counter()
        Trainer(config, run_dir=run_dir, data=data, origin="scripts/fid_vs_steps.py",
                subscribers=[lambda e: checkpoints.append((e.step, time.perf_counter() - start, e.path))
                             if isinstance(e, CheckpointSaved) else None]).run()
        for step, seconds, path in checkpoints:
            row = {"name": args.name, "seed": seed, "step": step, "train_s": round(seconds, 1),
                   "config": args.set, "preset": args.preset, "dataset": args.dataset, "samples": args.samples,
                   **score(run_dir, path, args.samples, seed)}
            rows.setdefault(step, []).append(row)
            with open(out / f"{args.name}.jsonl", "a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{args.name} seed {seed} step {step} ({seconds:.0f} s): FID {row['fid']:.2f} recall "
                  f"{row['recall']:.2f} classes {row['class_min']:.3f}-{row['class_max']:.3f}", flush=True)
            if not args.keep:
                Path(path).unlink()

    minutes = " | minutes at the given speed" if args.steps_per_s else ""
    print(f"\n{args.name}: {args.dataset}, preset {args.preset}, {' '.join(args.set)}, seeds {args.seeds}, "
          f"{args.samples} samples, classifier features")
    print(f"| step{minutes} | FID | recall | smallest class share | largest |")
    print("|---|---|---|---|---|" + ("---|" if minutes else ""))
    for step, found in sorted(rows.items()):
        def stat(key: str, fmt: str = "{:.2f}") -> str:
            values = [r[key] for r in found]
            if len(values) == 1:
                return fmt.format(values[0])
            return f"{fmt.format(statistics.mean(values))} ± {fmt.format(statistics.stdev(values))}"
        time_col = f" | {step / args.steps_per_s / 60:.1f}" if args.steps_per_s else ""
        print(f"| {step}{time_col} | {stat('fid')} | {stat('recall')} | {stat('class_min', '{:.3f}')} | "
              f"{stat('class_max', '{:.3f}')} |")


if __name__ == "__main__":
    main()
