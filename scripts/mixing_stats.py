"""What each block of a run's G controls under style mixing (docs/latent.md): for every block, on rows x rows
pairs of seeds, how often the mix is classified as A's class or as B's (pairs whose classes differ), its pixel
distance to each, and how its brightness correlates with each one's.

    python scripts/mixing_stats.py runs/<name> [--pairs 32] [--b-start 100]

Needs a run of a dataset with a shipped classifier (mnist, fashion-mnist).
"""

from __future__ import annotations

import argparse

import torch

from dcgan.attributes import class_logits
from dcgan.images import to_uint8
from dcgan.mixing import block_shapes, mixed_images
from dcgan.sampling import load_generator


def correlation(x: torch.Tensor, y: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([x.flatten(), y.flatten()]))[0, 1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("--pairs", type=int, default=32, help="A seeds 0..N-1 and as many B seeds")
    parser.add_argument("--b-start", type=int, default=100, help="the first B seed")
    args = parser.parse_args()
    g = load_generator(args.run)
    logits, _ = class_logits(g.config.dataset)
    n = args.pairs
    z_a, z_b = g.seed_latents(list(range(n))), g.seed_latents(list(range(args.b_start, args.b_start + n)))
    a, b = g.generate(z_a), g.generate(z_b)
    class_a, class_b = logits(a).argmax(1), logits(b).argmax(1)
    differ = class_a[:, None] != class_b[None, :]
    print(f"{args.run} (step {g.step}): {n} x {n} pairs, {int(differ.sum())} of different classes")
    print("| mixed from | classified as A's class / B's | pixel distance to A / B | brightness correlation with B / A |")
    print("|---|---|---|---|")
    for block, (c, h, w) in enumerate(block_shapes(g.model)):
        mixes = to_uint8(mixed_images(g.model, z_a.repeat_interleave(n, 0), z_b.repeat(n, 1), block))
        classes = logits(mixes).argmax(1).view(n, n)
        as_a = float(((classes == class_a[:, None]) & differ).sum() / differ.sum())
        as_b = float(((classes == class_b[None, :]) & differ).sum() / differ.sum())
        m = mixes.float().view(n, n, *mixes.shape[1:])
        fa, fb = a.float(), b.float()
        brightness = m.mean((2, 3, 4))
        with_b = correlation(brightness, fb.mean((1, 2, 3))[None].expand(n, n))
        with_a = correlation(brightness, fa.mean((1, 2, 3))[:, None].expand(n, n))
        to_a, to_b = (m - fa[:, None]).abs().mean().item(), (m - fb[None]).abs().mean().item()
        print(f"| block {block} ({c} x {h}x{w}) | {as_a:.0%} / {as_b:.0%} | {to_a:.1f} / {to_b:.1f} | "
              f"{with_b:.2f} / {with_a:.2f} |")


if __name__ == "__main__":
    main()
