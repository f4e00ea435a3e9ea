"""The defaults' targets (issue 17, docs/techniques.md "The defaults"): what `dcgan train` does with no options.

    python scripts/default_targets.py --seeds 0 1 2                      # Fashion-MNIST
    python scripts/default_targets.py --dataset mnist --seeds 0 1 2
    python scripts/default_targets.py --seeds 0 --verify                 # + the plain command, timed (quiet machine)

For each seed, real `dcgan train` commands in subprocesses, each scored like `dcgan eval RUN --features
classifier` (10,000 samples; the same code, dcgan.metrics.evaluate.evaluate_run):

1. `dcgan train --epochs 1`: FID, recall and the smallest and largest class share of the samples.
2. The curve: `dcgan train --steps N --checkpoint-every K --keep-checkpoints 1000` (the defaults, longer, with a
   checkpoint every K steps, each scored; the learning rate is constant, so its first steps are exactly those of
   a shorter run): FID at the default length's last step and at the last checkpoints within 1, 2, 5, 6 and 10
   minutes. FID after N steps does not depend on how busy the machine is, its wall clock does: minutes are read
   from the speed of a quiet machine (--steps-per-s and --startup-s; the --verify run measures both), or else
   from this command's own clock (with the load beside it).
3. With --verify: `dcgan train` with no option but the seed and the run folder, timed from the command's start
   to its end (2 threads, as a user's run): the wall clock of the default length, its FID, and the machine's load.

Runs go to --out; the tables print at the end and the numbers go to <out>/targets.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

from dcgan.config import DEFAULT_EPOCHS, TrainConfig
from dcgan.metrics.evaluate import evaluate_run
from dcgan.rundir import METRICS, read_metrics
from dcgan.vocabulary import LOSS_D

MINUTES = (1, 2, 5, 6, 10)


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def train(args: list[str], run_dir: Path) -> float:
    """Run `dcgan train ARGS --run-dir RUN_DIR --no-progress`; seconds from the command's start to its end. A run
    that finished there before (an interrupted measurement, run again) is kept: its seconds are from its record."""
    if run_dir.exists():
        status, record = (json.loads((run_dir / name).read_text()) if (run_dir / name).is_file() else {}
                          for name in ("status.json", "run.json"))
        if status.get("status") != "finished" or not record.get("sessions"):
            raise SystemExit(f"{run_dir} holds an unfinished run: delete it or give another --out")
        print(f"$ (finished before: {run_dir})", flush=True)
        started = datetime.fromisoformat(record["sessions"][0]["started"]).timestamp()
        return status["updated"] - started
    command = [sys.executable, "-m", "dcgan", "train", *args, "--run-dir", str(run_dir), "--no-progress"]
    print("$ dcgan " + " ".join(command[3:]), flush=True)
    start = time.time()
    result = subprocess.run(command, capture_output=True, text=True)
    seconds = time.time() - start
    if result.returncode != 0:
        raise SystemExit(f"dcgan train failed:\n{result.stderr[-3000:]}")
    return seconds


def score(run_dir: Path, checkpoint: Path | None = None, seed: int = 0, full: bool = False) -> dict:
    """`dcgan eval`'s numbers for a run (full: all metrics and eval.json, as the command writes them)."""
    report = evaluate_run(run_dir, checkpoint=checkpoint, samples=10000, features="classifier", seed=seed,
                          metrics=None if full else ["fid", "pr", "modes"], write=full)
    shares = report.details["class_histogram"]
    return {"step": report.source["step"], "fid": round(report.metrics["fid"], 3),
            "recall": round(report.metrics["recall"], 3), "precision": round(report.metrics["precision"], 3),
            "class_min": round(min(shares), 4), "class_max": round(max(shares), 4)}


def checkpoint_times(run_dir: Path, start: float) -> dict[int, float]:
    """step -> seconds from the command's start to the checkpoint's file being complete (its mtime)."""
    return {int(p.stem.split("-")[1]): p.stat().st_mtime - start
            for p in (run_dir / "checkpoints").glob("step-*.pt")}


def mean_spread(values: list[float], digits: int = 2) -> str:
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dataset", default=None, help="default: the default dataset (fashion-mnist)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--curve-steps", type=int, default=0, help="steps of the curve run (default: about 10 "
                        "minutes at --steps-per-s, else twice the default length)")
    parser.add_argument("--score-every", type=int, default=1875, help="steps between the curve's scored "
                        "checkpoints (default: half an epoch of the defaults)")
    parser.add_argument("--steps-per-s", type=float, help="the defaults' speed on a quiet machine")
    parser.add_argument("--startup-s", type=float, default=0.0, help="seconds from the command's start to its "
                        "first step on a quiet machine")
    parser.add_argument("--verify", action="store_true", help="also time the plain `dcgan train` (quiet machine)")
    parser.add_argument("--skip-curve", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("runs/targets"))
    parser.add_argument("--report", type=Path, nargs="+", metavar="JSON", help="only print the tables of "
                        "targets.json files made before (their seeds together), e.g. with a new --steps-per-s")
    args = parser.parse_args()
    if args.report:
        merged: dict = {}
        for path in args.report:
            found = json.loads(path.read_text())
            merged = {**found, "seeds": {**merged.get("seeds", {}), **found["seeds"]}}
        report(merged, args.steps_per_s, args.startup_s)
        return

    dataset = ["--dataset", args.dataset] if args.dataset else []
    defaults = TrainConfig(**({"dataset": args.dataset} if args.dataset else {})).resolved("cpu")
    per_epoch = 60000 // defaults.images_per_step()  # MNIST and Fashion-MNIST: 60,000 training images
    default_steps = DEFAULT_EPOCHS["cpu"] * per_epoch
    curve_steps = args.curve_steps or (int(args.steps_per_s * (600 - args.startup_s)) if args.steps_per_s
                                       else 2 * default_steps)
    curve_steps -= curve_steps % args.score_every
    out = args.out / defaults.dataset
    out.mkdir(parents=True, exist_ok=True)
    results: dict = {"dataset": defaults.dataset, "threads": os.environ.get("OMP_NUM_THREADS", "torch default"),
                     "default_steps": default_steps, "steps_per_epoch": per_epoch, "seeds": {}}
    for seed in args.seeds:
        row: dict = {}
        results["seeds"][seed] = row
        run = out / f"epoch1-s{seed}"
        before = load()
        row["epoch1"] = {"seconds": round(train([*dataset, "--epochs", "1", "--seed", str(seed)], run), 1),
                         "load": [before, load()], **score(run, seed=seed, full=True)}
        print(f"seed {seed}, one epoch: {row['epoch1']}", flush=True)
        (out / "targets.json").write_text(json.dumps(results, indent=2))

        if not args.skip_curve:
            run = out / f"curve-s{seed}"
            before, start = load(), time.time()
            train([*dataset, "--seed", str(seed), "--steps", str(curve_steps), "--checkpoint-every",
                   str(args.score_every), "--keep-checkpoints", "1000"], run)
            times = checkpoint_times(run, start)
            points = []
            for step in sorted(times):
                path = run / "checkpoints" / f"step-{step:07d}.pt"
                points.append({**score(run, path, seed=seed), "seconds": round(times[step], 1)})
                print(f"seed {seed}, curve: {points[-1]}", flush=True)
                if step != max(times):
                    path.unlink()  # hundreds of MB in all; the scores are kept
            row["curve"] = {"load": [before, load()], "steps": curve_steps, "points": points}
            (out / "targets.json").write_text(json.dumps(results, indent=2))

        if args.verify:
            run = out / f"default-s{seed}"
            before = load()
            seconds = train([*dataset, "--seed", str(seed)], run)
            row["default"] = {"seconds": round(seconds, 1), "load": [before, load()], **score(run, seed=seed,
                                                                                               full=True)}
            steps = [m for m in read_metrics(run / METRICS) if LOSS_D in m]
            row["default"]["steps_per_s"] = round((steps[-1]["step"] - steps[0]["step"])
                                                  / (steps[-1]["time"] - steps[0]["time"]), 2)
            print(f"seed {seed}, `dcgan train`: {row['default']}", flush=True)
    (out / "targets.json").write_text(json.dumps(results, indent=2))
    report(results, args.steps_per_s, args.startup_s)


def report(results: dict, steps_per_s: float | None = None, startup_s: float = 0.0) -> None:
    seeds = results["seeds"]
    n = len(seeds)
    print(f"\n{results['dataset']}, seeds {list(seeds)}, 10,000 samples, classifier features "
          f"(mean ± std over {n} seeds); seconds from the command's start")
    print("\n| run | step | FID | recall | class shares (min-max) | seconds | load (1/5/15 min: before; after) |")
    print("|---|---|---|---|---|---|---|")

    def line(label: str, rows: list[dict], seconds: str | None = None) -> None:
        steps = sorted({r["step"] for r in rows})
        print(f"| {label} | {'-'.join(map(str, steps[::max(1, len(steps) - 1)]))} | "
              f"{mean_spread([r['fid'] for r in rows])} | {mean_spread([r['recall'] for r in rows])} | "
              f"{min(r['class_min'] for r in rows):.3f}-{max(r['class_max'] for r in rows):.3f} | "
              f"{seconds or mean_spread([r['seconds'] for r in rows], 0)} | "
              f"{'; '.join(', '.join(r['load']) for r in rows[:1]) if 'load' in rows[0] else ''} |")

    line("`dcgan train --epochs 1`", [s["epoch1"] for s in seeds.values()])
    if all("default" in s for s in seeds.values()):
        line("`dcgan train` (the default length, timed)", [s["default"] for s in seeds.values()])
    curves = {seed: s["curve"] for seed, s in seeds.items() if "curve" in s}
    if not curves:
        return
    at = lambda c, step: next((p for p in c["points"] if p["step"] == step), None)  # noqa: E731
    default = [at(c, results["default_steps"]) for c in curves.values()]
    if all(default):
        line(f"the curve at the default length ({results['default_steps']} steps)", default)
    for minutes in MINUTES:
        # The last scored checkpoint within the time: at the quiet machine's speed, else by the run's own clock.
        if steps_per_s:
            step = max((p["step"] for c in curves.values() for p in c["points"]
                        if startup_s + p["step"] / steps_per_s <= minutes * 60), default=None)
            rows = [at(c, step) for c in curves.values()] if step else []
            if rows and all(rows):
                line(f"{minutes} min at {steps_per_s:g} steps/s", rows, f"{startup_s + step / steps_per_s:.0f}")
        else:
            rows = [max((p for p in c["points"] if p["seconds"] <= minutes * 60), key=lambda p: p["step"],
                        default=None) for c in curves.values()]
            if all(rows):
                line(f"{minutes} min by the run's own clock", [{**r, "load": c["load"]}
                                                              for r, c in zip(rows, curves.values())])
    print("\nFID against steps (the curve runs):\n")
    steps = sorted({p["step"] for c in curves.values() for p in c["points"]})
    print("| step | epochs | FID | recall |" + (" minutes at the quiet speed |" if steps_per_s else ""))
    print("|---|---|---|---|" + ("---|" if steps_per_s else ""))
    for step in steps:
        rows = [p for c in curves.values() for p in c["points"] if p["step"] == step]
        quiet = f" {(startup_s + step / steps_per_s) / 60:.1f} |" if steps_per_s else ""
        print(f"| {step} | {step / results['steps_per_epoch']:g} | {mean_spread([r['fid'] for r in rows])} | "
              f"{mean_spread([r['recall'] for r in rows])} |{quiet}")


if __name__ == "__main__":
    main()
