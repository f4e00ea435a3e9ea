"""The small networks' step with one or two intra-op threads, and with OpenMP's threads spinning or sleeping while
they wait (docs/performance.md, "The small networks").

    python scripts/bench_threads.py                     # the defaults (28x28, widths 32, batch 16)
    python scripts/bench_threads.py --batch-size 32 --rounds 5

Each setting runs in its own process (OpenMP reads OMP_WAIT_POLICY once, when torch loads), and the settings take
turns, round after round, so a busy moment of the machine hits all of them; each row is the median of its rounds'
milliseconds per step, with the load average beside the table.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

SETTINGS = {  # name: environment
    "2 threads, OpenMP default (spin, then sleep)": {"OMP_NUM_THREADS": "2"},
    "2 threads, OMP_WAIT_POLICY=PASSIVE (sleep)": {"OMP_NUM_THREADS": "2", "OMP_WAIT_POLICY": "PASSIVE"},
    "2 threads, GOMP_SPINCOUNT=1000 (a short spin)": {"OMP_NUM_THREADS": "2", "GOMP_SPINCOUNT": "1000"},
    "1 thread": {"OMP_NUM_THREADS": "1"},
}


def child(image_size: int, width: int, batch: int, steps: int) -> None:
    """Time `steps` steps of the trainer's real step after a warm-up and print milliseconds per step."""
    from dcgan.bench import bench_data, trainer_step
    from dcgan.config import TrainConfig

    config = TrainConfig.from_dict({"dataset": "fashion-mnist", "image_size": image_size, "g_width": width,
                                    "d_width": width, "batch_size": batch, "seed": 0, "steps": 1}).resolved()
    _, step = trainer_step(config, bench_data(config)[0])
    for i in range(5):
        step(i)
    start, cpu = time.perf_counter(), time.process_time()
    for i in range(steps):
        step(i)
    seconds = time.perf_counter() - start
    # The CPU cores the steps got: what dcgan.threads' governor watches (below the thread count = starved).
    print(seconds / steps * 1000, (time.process_time() - cpu) / seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--width", type=int, default=32, help="G's and D's widths (default: 32)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=100, help="timed steps per process (default: 100)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.image_size, args.width, args.batch_size, args.steps)
        return
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    cores: dict[str, list[float]] = {name: [] for name in SETTINGS}
    for _ in range(args.rounds):
        for name, env in SETTINGS.items():
            base = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
            out = subprocess.run([sys.executable, __file__, "--child", "--image-size", str(args.image_size),
                                  "--width", str(args.width), "--batch-size", str(args.batch_size),
                                  "--steps", str(args.steps)], env={**base, **env}, capture_output=True,
                                 text=True, check=True)
            ms, got = out.stdout.strip().splitlines()[-1].split()
            times[name].append(float(ms))
            cores[name].append(float(got))
    load_after = os.getloadavg()
    print(f"{args.image_size}x{args.image_size}, widths {args.width}, batch {args.batch_size}; {args.rounds} rounds of "
          f"{args.steps} steps; {os.cpu_count()} cores; load average (1, 5, 15 min): before "
          f"{' '.join(f'{v:.2f}' for v in load_before)}, after {' '.join(f'{v:.2f}' for v in load_after)}\n")
    reference = statistics.median(times["1 thread"])
    print("| setting | ms/step (median) | images/s | step speed vs 1 thread | CPU cores the steps got (median) | "
          "rounds (ms/step) |")
    print("|---|---|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {args.batch_size / median * 1000:.0f} | {reference / median:.2f}x | "
              f"{statistics.median(cores[name]):.2f} | {' '.join(f'{v:.1f}' for v in values)} |")
    print(f"\nreproduce: python scripts/bench_threads.py --image-size {args.image_size} --width {args.width} "
          f"--batch-size {args.batch_size} --steps {args.steps} --rounds {args.rounds}")


if __name__ == "__main__":
    main()
