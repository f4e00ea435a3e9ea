"""Where the small networks' training step spends its time on a CPU (docs/performance.md, "The small networks").

    python scripts/profile_step.py                                   # the defaults and widths 32 / batch 32
    python scripts/profile_step.py --recipe 28:32:16 --steps 50 --threads 1

torch.profiler records the trainer's real step (`Trainer.train_step` with its batch fetch, as `dcgan bench`
times it) and files every operation the step itself calls (the profiler's top-level events inside the step) into
one row: convolutions forward and backward, the matrix products of G's first layer and D's head (models.project,
models.dense_head), BatchNorm forward and backward, activations, the pairwise distances of minibatch
discrimination (torch.cdist; its linear map is a matrix product, its exp and sums are other ops), the optimizer
(Adam's step and zero_grad), the rest of autograd (gradient accumulation, the losses' backward), other aten
operations (batch, noise, losses, metrics), and the host gaps: the step's wall time minus the time inside those
operations (Python, the autograd engine between nodes, the profiler's own cost). Each row is the median over the
profiled steps of its milliseconds per step, and its share of the sum of those medians: a busy machine stretches
absolute times, shares move less. The step's unprofiled median comes from the same run, before the profile.

The load average and the thread count are printed beside the table: on a busy 2-core machine two intra-op threads
can be many times slower than one (docs/performance.md).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.profiler import ProfilerActivity, profile, record_function

from dcgan.bench import bench_data, machine_line, trainer_step
from dcgan.config import TrainConfig

CONV, CONV_BACK = "convolution forward", "convolution backward"
MM, MM_BACK = "matrix products forward (G's first layer, D's head)", "matrix products backward"
BN, BN_BACK = "BatchNorm forward", "BatchNorm backward"
ACT, ACT_BACK = "activations forward", "activations backward"
DISTANCES = "minibatch discrimination's distances (cdist, both ways)"
OPTIMIZER = "optimizer (Adam step, zero_grad)"
AUTOGRAD = "other autograd (AccumulateGrad, loss backward)"
OTHER = "other aten ops (batch, noise, loss, metrics)"
GAPS = "host gaps (Python, engine, profiler)"
ROWS = (CONV, CONV_BACK, MM, MM_BACK, BN, BN_BACK, ACT, ACT_BACK, DISTANCES, OPTIMIZER, AUTOGRAD, OTHER, GAPS)
BACKWARD = "autograd::engine::evaluate_function: "
# A backward node's name prefix, or a forward aten op's name, -> its row.
BACKWARD_ROWS = {("Convolution",): CONV_BACK, ("Mm", "Addmm", "Bmm", "Matmul"): MM_BACK,
                 ("NativeBatchNorm", "CudnnBatchNorm"): BN_BACK, ("Relu", "LeakyRelu", "Tanh"): ACT_BACK,
                 ("Cdist",): DISTANCES}
FORWARD_ROWS = {**dict.fromkeys(("conv2d", "conv_transpose2d", "convolution", "_convolution"), CONV),
                **dict.fromkeys(("matmul", "mm", "addmm", "linear"), MM),
                **dict.fromkeys(("batch_norm", "native_batch_norm", "_native_batch_norm_legit"), BN),
                **dict.fromkeys(("relu", "leaky_relu", "tanh"), ACT),
                **dict.fromkeys(("cdist", "_cdist_forward"), DISTANCES)}


def category(name: str) -> str:
    """The table row of a top-level profiler event of the step."""
    if name.startswith("Optimizer."):
        return OPTIMIZER
    if name.startswith(BACKWARD):
        node = name[len(BACKWARD):]
        return next((row for prefixes, row in BACKWARD_ROWS.items() if node.startswith(prefixes)), AUTOGRAD)
    return FORWARD_ROWS.get(name.removeprefix("aten::").rstrip("_"), OTHER)


def profile_recipe(image_size: int, g_width: int, batch_size: int, steps: int, warmup: int) -> dict:
    config = TrainConfig.from_dict({"dataset": "fashion-mnist", "image_size": image_size, "g_width": g_width,
                                    "d_width": g_width, "batch_size": batch_size, "seed": 0, "steps": 1}).resolved()
    data, _ = bench_data(config)
    _, step = trainer_step(config, data)
    for i in range(warmup):
        step(i)
    plain = []
    for i in range(steps):
        start = time.perf_counter()
        step(i)
        plain.append(time.perf_counter() - start)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            with record_function("profiled_step"):
                step(i)
    per_step = []
    for event in prof.events():
        if event.name != "profiled_step":
            continue
        ms = dict.fromkeys(ROWS, 0.0)
        for child in event.cpu_children:
            ms[category(child.name)] += child.cpu_time_total / 1000
        ms[GAPS] = max(event.cpu_time_total / 1000 - sum(ms.values()), 0.0)
        per_step.append(ms)
    medians = {row: statistics.median(s[row] for s in per_step) for row in ROWS}
    return {"config": config, "medians": medians, "plain_ms": statistics.median(plain) * 1000,
            "profiled_ms": statistics.median(sum(s.values()) for s in per_step)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--recipe", nargs="+", default=["28:32:16", "28:32:32"],
                        help="image_size:widths:batch for each column (default: the defaults, then widths 32 / "
                             "batch 32)")
    parser.add_argument("--steps", type=int, default=40, help="profiled steps per recipe (default: 40)")
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: torch's)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    recipes = [tuple(int(v) for v in r.split(":")) for r in args.recipe]
    print(machine_line())
    load_before = os.getloadavg()
    results = [profile_recipe(size, width, batch, args.steps, args.warmup) for size, width, batch in recipes]
    load_after = os.getloadavg()
    print(f"load average (1, 5, 15 min): before {' '.join(f'{v:.2f}' for v in load_before)}, "
          f"after {' '.join(f'{v:.2f}' for v in load_after)}\n")
    heads = [f"{s}x{s}, widths {w}, batch {b}" for s, w, b in recipes]
    print("| share of the step | " + " | ".join(heads) + " |")
    print("|---|" + "---|" * len(heads))
    for row in ROWS:
        cells = []
        for r in results:
            total = sum(r["medians"].values())
            cells.append(f"{r['medians'][row] / total:.0%} ({r['medians'][row]:.2f} ms)")
        print(f"| {row} | " + " | ".join(cells) + " |")
    print("| step, profiled (median) | " + " | ".join(f"{r['profiled_ms']:.2f} ms" for r in results) + " |")
    print("| step, unprofiled (median) | " + " | ".join(
        f"{r['plain_ms']:.2f} ms = {r['config'].batch_size / r['plain_ms'] * 1000:.0f} img/s" for r in results)
        + " |")
    print(f"\nreproduce: python scripts/profile_step.py --recipe {' '.join(args.recipe)} --steps {args.steps}"
          + (f" --threads {args.threads}" if args.threads else ""))


if __name__ == "__main__":
    main()
