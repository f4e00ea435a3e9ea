"""Differentiable augmentation of D's inputs (DiffAugment; Zhao et al. 2020, "Differentiable Augmentation for
Data-Efficient GAN Training").

The same random transformations are applied to real and fake images on their way into D, in both D's and G's
updates; being differentiable, G still gets gradients through them. This keeps D from memorising a small
dataset. Policies: translation (up to 1/8 of the image), cutout (a square of half the image), color
(brightness, saturation, contrast). Images are in [-1, 1], shape (B, C, H, W).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _rand(x: torch.Tensor, generator: torch.Generator | None, *shape: int) -> torch.Tensor:
    return torch.rand(x.shape[0], *shape, device=x.device, dtype=x.dtype, generator=generator)


def color(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random brightness (+-0.5), saturation (x0..2) and contrast (x0.5..1.5) per image."""
    x = x + (_rand(x, generator, 1, 1, 1) - 0.5)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, generator, 1, 1, 1) * 2) + mean
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, generator, 1, 1, 1) + 0.5) + mean


def translation(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.125) -> torch.Tensor:
    """Shift each image by whole pixels, up to ratio x size each way, filling with zeros."""
    b, _, h, w = x.shape
    max_shift = torch.tensor([w * ratio, h * ratio], device=x.device, dtype=x.dtype).round()
    shift = (_rand(x, generator, 2) * (2 * max_shift + 1)).floor() - max_shift  # (B, 2) pixels, in +-max
    theta = torch.zeros(b, 2, 3, device=x.device, dtype=x.dtype)
    theta[:, 0, 0] = theta[:, 1, 1] = 1
    theta[:, :, 2] = -2 * shift / torch.tensor([w, h], device=x.device, dtype=x.dtype)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def cutout(x: torch.Tensor, generator: torch.Generator | None = None, ratio: float = 0.5) -> torch.Tensor:
    """Zero a square of ratio x size at a random centre in each image."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    centre = _rand(x, generator, 2) * torch.tensor([h, w], device=x.device, dtype=x.dtype)
    rows = torch.arange(h, device=x.device, dtype=x.dtype)[None, :, None]
    cols = torch.arange(w, device=x.device, dtype=x.dtype)[None, None, :]
    inside = ((rows - centre[:, 0, None, None]).abs() < ch / 2) & ((cols - centre[:, 1, None, None]).abs() < cw / 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


POLICIES = {"color": color, "translation": translation, "cutout": cutout}


def diff_augment(x: torch.Tensor, policy: list[str], generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the policies in the paper's order (color, translation, cutout)."""
    for name in ("color", "translation", "cutout"):
        if name in policy:
            x = POLICIES[name](x, generator)
    return x
