"""The small networks' step with G's first layer and D's head as matrix products (models.project,
models.dense_head, the default) against the same step with both as convolutions, in one process, taking turns
(docs/performance.md, "The small networks").

    python scripts/ab_matrix_products.py                                   # the defaults, 1 thread
    python scripts/ab_matrix_products.py --batch-size 32 --threads 2

Both trainers start from the same seed; blocks of steps alternate between them, round after round, so a busy
moment of the machine hits both; each row is the median of its blocks' milliseconds per step.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

from dcgan import models
from dcgan.bench import bench_data, machine_line, trainer_step
from dcgan.config import TrainConfig

MATRIX_PRODUCTS = (models.project, models.dense_head)
CONVOLUTIONS = (lambda conv, x: conv(x), lambda conv, x: conv(x).flatten())


def use(functions) -> None:
    models.project, models.dense_head = functions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--image-size", type=int, default=28)
    parser.add_argument("--width", type=int, default=32, help="G's and D's widths (default: 32)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1, help="intra-op threads (default: 1; see bench_threads.py)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--block", type=int, default=10, help="steps per block (default: 10)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = TrainConfig.from_dict({"dataset": "fashion-mnist", "image_size": args.image_size, "g_width": args.width,
                                    "d_width": args.width, "batch_size": args.batch_size, "seed": 0,
                                    "steps": 1}).resolved()
    data = bench_data(config)[0]
    variants = {"convolutions": CONVOLUTIONS, "matrix products (default)": MATRIX_PRODUCTS}
    steps = {name: trainer_step(config, data)[1] for name in variants}
    times: dict[str, list[float]] = {name: [] for name in variants}
    for name, functions in variants.items():  # warm-up
        use(functions)
        for i in range(5):
            steps[name](i)
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for name, functions in variants.items():
            use(functions)
            start = time.perf_counter()
            for i in range(args.block):
                steps[name](i)
            times[name].append((time.perf_counter() - start) / args.block * 1000)
    use(MATRIX_PRODUCTS)
    load_after = os.getloadavg()
    print(machine_line())
    print(f"{args.image_size}x{args.image_size}, widths {args.width}, batch {args.batch_size}; {args.rounds} rounds of "
          f"{args.block} steps; load average (1, 5, 15 min): before {' '.join(f'{v:.2f}' for v in load_before)}, "
          f"after {' '.join(f'{v:.2f}' for v in load_after)}\n")
    reference = statistics.median(times["convolutions"])
    print("| G's first layer and D's head as | ms/step (median) | images/s | step speed vs convolutions |")
    print("|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {args.batch_size / median * 1000:.0f} | {reference / median:.2f}x |")
    print(f"\nreproduce: python scripts/ab_matrix_products.py --image-size {args.image_size} --width {args.width} "
          f"--batch-size {args.batch_size} --threads {args.threads} --rounds {args.rounds} --block {args.block}")


if __name__ == "__main__":
    main()
