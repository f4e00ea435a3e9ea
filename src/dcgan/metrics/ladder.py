"""The sanity ladder: image sets whose quality is known in advance, to check that a metric orders them right.

Real test images against the real training images sit at the floor (what a perfect generator would score at
this sample count); blurring, noise and dropping classes each make a set measurably worse, and uniform noise is
the ceiling. A metric (or a feature space) that does not reproduce this order cannot be trusted on generators.
"""

from __future__ import annotations

from typing import Callable

import torch
import torchvision.transforms.functional as TF


def blurred(images: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Gaussian blur of uint8 images (kernel of about 4 sigma)."""
    size = 2 * round(2 * sigma) + 1
    return TF.gaussian_blur(images.float(), [size, size], [sigma, sigma]).round().clamp(0, 255).to(torch.uint8)


def noised(images: torch.Tensor, sigma: float = 25.0, seed: int = 0) -> torch.Tensor:
    """Additive Gaussian pixel noise of `sigma` grey levels."""
    gen = torch.Generator().manual_seed(seed)
    noise = sigma * torch.randn(images.shape, generator=gen)
    return (images.float() + noise).round().clamp(0, 255).to(torch.uint8)


def some_classes(images: torch.Tensor, labels: torch.Tensor, classes: list[int], count: int,
                 seed: int = 0) -> torch.Tensor:
    """`count` images drawn (with repetition when needed) from the given classes only: a mode-dropping set."""
    pool = torch.nonzero(torch.isin(labels, torch.tensor(classes))).squeeze(1)
    gen = torch.Generator().manual_seed(seed)
    return images[pool[torch.randint(len(pool), (count,), generator=gen)]]


def uniform_noise(count: int, shape: tuple[int, ...], seed: int = 0) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (count, *shape), generator=gen, dtype=torch.uint8)


def ladder_sets(images: torch.Tensor, labels: torch.Tensor, seed: int = 0
                ) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    """(name, make) for each rung, from real held-out images and their labels; each set has len(images) images.
    Made lazily so a caller can report progress rung by rung."""
    n, shape = images.shape[0], tuple(images.shape[1:])
    num_classes = int(labels.max()) + 1
    return [
        ("real test images", lambda: images),
        ("real, blurred (sigma 1 px)", lambda: blurred(images, 1.0)),
        ("real + pixel noise (sigma 25)", lambda: noised(images, 25.0, seed)),
        ("real, half the classes", lambda: some_classes(images, labels, list(range(num_classes // 2)), n, seed)),
        ("real, one class", lambda: some_classes(images, labels, [0], n, seed)),
        ("uniform noise", lambda: uniform_noise(n, shape, seed)),
    ]
