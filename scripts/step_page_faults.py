"""Minor page faults and milliseconds per training step of the defaults (docs/performance.md, "What was tried"):

    python scripts/step_page_faults.py
    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=268435456:glibc.malloc.trim_threshold=1073741824 \\
        python scripts/step_page_faults.py                        # malloc keeps freed memory: no page faults

Run the two in turns a few times (and with OMP_NUM_THREADS=1 on a shared machine); each prints one line.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

import torch

from dcgan.bench import bench_data, trainer_step
from dcgan.config import TrainConfig


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--steps", type=int, default=200, help="steps per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    config = TrainConfig.from_dict({"batch_size": args.batch_size, "steps": 1}).resolved()
    data, _ = bench_data(config)
    _, step = trainer_step(config, data)
    for i in range(30):  # warm-up: the allocator settles
        step(i)
    rounds = []
    for _ in range(args.rounds):
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        start = time.perf_counter()
        for i in range(args.steps):
            step(i)
        seconds = time.perf_counter() - start
        faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults
        rounds.append(f"{seconds / args.steps * 1000:.2f} ms {faults / args.steps:.0f} faults")
    print(f"GLIBC_TUNABLES={os.environ.get('GLIBC_TUNABLES', '-')} threads {torch.get_num_threads()} "
          f"batch {args.batch_size}, per step: " + "; ".join(rounds))


if __name__ == "__main__":
    main()
