"""Data-parallel scaling on this machine: images/s of 1 process vs N processes, one thread each.

    python scripts/bench_scaling.py                      # 1 vs 2 processes, 28x28 Fashion-MNIST, batch 64/process
    python scripts/bench_scaling.py --nproc 1 2 4 --image-size 32 --batch-size 128 --steps 120

Each configuration is a real `dcgan train` (through torchrun for N > 1) with OMP_NUM_THREADS=1, so the only
parallelism is the processes'. The per-process batch is fixed (weak scaling, as on a multi-GPU machine); the
images/s is the median of the logged rates after the first 20 steps (warm-up). Rounds alternate the
configurations so that other load on the machine hits them alike.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from dcgan.rundir import METRICS, read_metrics
from dcgan.vocabulary import IMAGES_PER_S


def measure(nproc: int, args: argparse.Namespace, workdir: Path, round_: int) -> float:
    run_dir = workdir / f"n{nproc}-r{round_}"
    command = [sys.executable, "-m", "dcgan", "train", "--steps", str(args.steps), "--batch-size",
               str(args.batch_size), "--image-size", str(args.image_size), "--seed", "0", "--run-dir", str(run_dir),
               "--sample-every", "100000", "--checkpoint-every", "100000", "--no-progress", "--no-tensorboard"]
    if nproc > 1:
        command += ["--nproc", str(nproc)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    subprocess.run(command, env=env, check=True, capture_output=True, cwd=workdir)
    rates = [row[IMAGES_PER_S] for row in read_metrics(run_dir / METRICS) if IMAGES_PER_S in row and row["step"] > 20]
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nproc", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--batch-size", type=int, default=64, help="per process")
    parser.add_argument("--steps", type=int, default=80)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    results: dict[int, list[float]] = {n: [] for n in args.nproc}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for n in args.nproc:
                results[n].append(measure(n, args, Path(tmp), round_))
    base = statistics.median(results[args.nproc[0]])
    print(f"{args.image_size}x{args.image_size}, batch {args.batch_size} per process, one thread per process, "
          f"median of {args.rounds} rounds")
    print("| processes | effective batch | images/s | speed-up |")
    print("|---|---|---|---|")
    for n, rates in results.items():
        rate = statistics.median(rates)
        print(f"| {n} | {n * args.batch_size} | {rate:.0f} | {rate / base:.2f}x |")
    print(f"\nreproduce: python scripts/bench_scaling.py --nproc {' '.join(map(str, args.nproc))} "
          f"--image-size {args.image_size} --batch-size {args.batch_size} --steps {args.steps} --rounds {args.rounds}")


if __name__ == "__main__":
    main()
