"""Adam's step on the CPU: the per-parameter loop, foreach and the fused kernel (docs/performance.md, levers).

    python scripts/bench_optimizer.py

One optimizer over G's and D's parameters with random gradients, for the default networks (28x28, widths 32) and
for the paper's at 64x64 (widths 64); milliseconds per step, the best of three rounds of 50 steps.
"""

from __future__ import annotations

import time

import torch

from dcgan.bench import machine_line
from dcgan.config import apply_preset
from dcgan.models import build_discriminator, build_generator

KINDS = {"per-parameter loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


def main() -> None:
    print(machine_line() + "\n")
    print("| networks | parameters | " + " | ".join(f"{k} (ms)" for k in KINDS) + " |")
    print("|---|---|" + "---|" * len(KINDS))
    for label, preset, overrides in (("defaults (28x28, widths 32)", None, {}),
                                     ("paper at 64x64 (widths 64)", "paper", {"image_size": 64})):
        config = apply_preset(preset, overrides).resolved("cpu")
        params = [*build_generator(config).parameters(), *build_discriminator(config).parameters()]
        for p in params:
            p.grad = torch.randn_like(p)
        best = {kind: float("inf") for kind in KINDS}
        for _ in range(3):  # rounds interleave the kinds, so a slow moment of the machine hits all of them
            for kind, options in KINDS.items():
                adam = torch.optim.Adam(params, lr=2e-4, betas=(0.5, 0.999), **options)
                for _ in range(3):
                    adam.step()
                start = time.perf_counter()
                for _ in range(50):
                    adam.step()
                best[kind] = min(best[kind], (time.perf_counter() - start) / 50 * 1000)
        print(f"| {label} | {sum(p.numel() for p in params):,} | " + " | ".join(f"{best[k]:.2f}" for k in KINDS) + " |")


if __name__ == "__main__":
    main()
