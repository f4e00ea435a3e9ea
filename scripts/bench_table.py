"""The performance table of docs/performance.md: `dcgan bench` over image sizes, batch sizes and precisions.

    python scripts/bench_table.py                                   # 28, 32, 64 x batch 64, 128 x fp32, bf16
    python scripts/bench_table.py --sizes 64 --batches 64 --precisions fp32 --steps 10

Every row is one run_bench call: the trainer's real step and the textbook loop of the same architecture timed
in the same process, one after the other, so the speed-up compares like with like even on a busy machine.
"""

from __future__ import annotations

import argparse

from dcgan.bench import machine_line, run_bench
from dcgan.config import TrainConfig
from dcgan.device import cpu_has_native_bf16


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[28, 32, 64])
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"] if cpu_has_native_bf16() else ["fp32"],
                        help="default: bf16 too where the CPU runs it natively")
    parser.add_argument("--steps", type=int, default=10)
    args = parser.parse_args()
    print(machine_line() + "\n")
    print("| size | batch | precision | dcgan images/s | GFLOP/image | GFLOP/s | matmul peak | MFU | textbook images/s | "
          "speed-up |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes:
        for batch in args.batches:
            for precision in args.precisions:
                config = TrainConfig.from_dict({"image_size": size, "batch_size": batch, "precision": precision,
                                                "device": "cpu", "seed": 0, "steps": 1})
                r = run_bench(config, args.steps)
                t, b = r["train"], r["baseline"]
                print(f"| {size} | {batch} | {precision} | {t['images_per_s']:.0f} | {t['gflop_per_image']:.2f} | "
                      f"{t['gflops']:.0f} | {r['peak_gflops']:.0f} | {t['mfu']:.0%} | "
                      f"{b['images_per_s']:.0f} | {r['speedup']:.2f}x |", flush=True)
    print(f"\nreproduce: python scripts/bench_table.py --sizes {' '.join(map(str, args.sizes))} --batches "
          f"{' '.join(map(str, args.batches))} --precisions {' '.join(args.precisions)} --steps {args.steps}")


if __name__ == "__main__":
    main()
