"""Variants of the small networks' training step against the default step, in one process, taking turns
(docs/performance.md, "The small networks").

    python scripts/ab_step.py                                        # the defaults against the convolution path
    python scripts/ab_step.py --variants default compile separate-passes nchw-weights --batch-size 32

Variants (each a trainer from the same seed; blocks of steps alternate between them, round after round, so a
busy moment of the machine hits all of them; each row is the median of its blocks' milliseconds per step):
  default        the trainer's step as it is
  convolutions   G's first layer and D's head as the convolutions they are, not matrix products (the step before)
  compile        torch.compile of G and D with inductor (`--compile`); its first step, compilation included, is timed
  separate-passes  D's update judges the real and the fake batch in two passes (the step before they shared one)
  nchw-weights   G's and D's weights kept in NCHW (activations stay channels_last), so fused Adam needs no copies
  flat-adam      each network's weights and gradients as views into one flat buffer, one fused Adam over that buffer
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import time

import torch
from torch import nn

from dcgan import models
from dcgan.bench import bench_data, machine_line, trainer_step
from dcgan.config import TrainConfig

MATRIX_PRODUCTS = (models.project, models.dense_head)
CONVOLUTIONS = (lambda conv, x: nn.ConvTranspose2d.forward(conv, x), lambda conv, x: nn.Conv2d.forward(conv, x))


def separate_passes(D):
    """D called once per part of a joined batch, as the step called it before its real and fake batches shared
    one pass (Discriminator.logits_and_features)."""
    def call(x, labels=None, parts=1):
        part_labels = labels.chunk(parts) if labels is not None else [None] * parts
        return torch.cat([D(part, y) for part, y in zip(x.chunk(parts), part_labels)])
    return call


class FlatAdam:
    """Adam over one flat buffer that holds all of a network's weights; their gradients are views into a second
    one, which zero_grad zeroes in place (backward then adds into the views instead of replacing them)."""

    def __init__(self, module: nn.Module, opt: torch.optim.Optimizer):
        params = list(module.parameters())
        flat = torch.zeros(sum(p.numel() for p in params), dtype=params[0].dtype)
        self.grad, offset = torch.zeros_like(flat), 0
        for p in params:
            view = flat.as_strided(p.shape, p.stride(), offset)
            view.copy_(p.data)
            p.data, p.grad = view, self.grad.as_strided(p.shape, p.stride(), offset)
            offset += p.numel()
        self.flat = nn.Parameter(flat)
        self.flat.grad = self.grad
        defaults = {k: v for k, v in opt.defaults.items() if k in ("lr", "betas", "eps", "fused")}
        self.adam = torch.optim.Adam([self.flat], **defaults)
        self.param_groups = self.adam.param_groups

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.grad.zero_()

    def step(self) -> None:
        self.adam.step()


def build(variant: str, config: TrainConfig, data):
    trainer, step = trainer_step(dataclasses.replace(config, compile=variant == "compile"), data)
    if variant == "separate-passes":
        trainer.gan_step.D_train = separate_passes(trainer.gan_step.D_train)
    if variant == "nchw-weights":
        for net in (trainer.G, trainer.D):
            for p in net.parameters():
                p.data = p.data.contiguous()
    if variant == "flat-adam":
        gan = trainer.gan_step
        gan.opt_G, gan.opt_D = FlatAdam(trainer.G, gan.opt_G), FlatAdam(trainer.D, gan.opt_D)
    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["convolutions", "default"],
                        choices=["default", "convolutions", "compile", "separate-passes", "nchw-weights", "flat-adam"],
                        help="the first is the reference of the ratios (default: convolutions default)")
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
    steps, first_step = {}, {}
    for name in args.variants:
        models.project, models.dense_head = CONVOLUTIONS if name == "convolutions" else MATRIX_PRODUCTS
        start = time.perf_counter()
        steps[name] = build(name, config, data)
        steps[name](0)
        first_step[name] = time.perf_counter() - start
        for i in range(1, 6):
            steps[name](i)
    times: dict[str, list[float]] = {name: [] for name in args.variants}
    load_before = os.getloadavg()
    for _ in range(args.rounds):
        for name in args.variants:
            models.project, models.dense_head = CONVOLUTIONS if name == "convolutions" else MATRIX_PRODUCTS
            start = time.perf_counter()
            for i in range(args.block):
                steps[name](i)
            times[name].append((time.perf_counter() - start) / args.block * 1000)
    models.project, models.dense_head = MATRIX_PRODUCTS
    load_after = os.getloadavg()
    print(machine_line())
    print(f"{args.image_size}x{args.image_size}, widths {args.width}, batch {args.batch_size}; {args.rounds} rounds of "
          f"{args.block} steps; load average (1, 5, 15 min): before {' '.join(f'{v:.2f}' for v in load_before)}, "
          f"after {' '.join(f'{v:.2f}' for v in load_after)}\n")
    reference = statistics.median(times[args.variants[0]])
    print(f"| variant | ms/step (median) | images/s | step speed vs {args.variants[0]} | set-up + first step (s) |")
    print("|---|---|---|---|---|")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} | {args.batch_size / median * 1000:.0f} | {reference / median:.2f}x | "
              f"{first_step[name]:.2f} |")
    print(f"\nreproduce: python scripts/ab_step.py --variants {' '.join(args.variants)} --image-size "
          f"{args.image_size} --width {args.width} --batch-size {args.batch_size} --threads {args.threads} "
          f"--rounds {args.rounds} --block {args.block}")


if __name__ == "__main__":
    main()
