"""Style mixing for a DCGAN: G's early blocks from one noise vector, the style of its later blocks from another.

StyleGAN feeds one latent to its coarse layers and another to its fine ones (Karras et al. 2019, section 3.1,
"style mixing"). A DCGAN's G has a single input, z, so there is no later input to swap. What a block hands on is
its feature maps, and the per-channel mean and standard deviation of feature maps are what neural style
transfer calls style (Huang & Belongie 2017, "Adaptive Instance Normalization"). So mixing at block K runs the
noise vectors A and B through G side by side and, at block K and every block after it, renormalises A's maps to
B's per-channel statistics at that block:

    h_mix = sigma_B * (h_A - mu_A) / sigma_A + mu_B        (mean and std over H and W, per sample and channel)

The blocks before K are A's alone and decide where things are; from K on, B decides how strongly each channel
speaks. Blocks are counted from G's first map: block k is the k-th BatchNorm output (before its ReLU), from the
smallest map (4x4, or 7x7 at 28x28) up, and the last block is the output layer before Tanh (one channel per
colour: B then sets the image's brightness and contrast). Mixing at the last block changes least.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Sequence

import torch
from torch import nn

from dcgan.errors import ConfigError
from dcgan.models import Generator
from dcgan.images import FIGURE_SIDE, Images, display_scale, to_uint8

if TYPE_CHECKING:  # dcgan.sampling's LoadedGenerator calls into this module, so it is only named here
    from dcgan.sampling import LoadedGenerator

MAX_SIDE = 16  # rows and columns of one grid
EPS = 1e-5  # keeps a constant channel (std 0) finite


def mix_points(model: Generator) -> list[int]:
    """Indices into `model.main` after which a block's maps are ready to mix: each BatchNorm (before its ReLU),
    then the output convolution (before Tanh)."""
    layers = list(model.main)
    points = [i for i, layer in enumerate(layers) if isinstance(layer, nn.BatchNorm2d)]
    output = max(i for i, layer in enumerate(layers) if isinstance(layer, nn.ConvTranspose2d))
    return points + [output]


def block_shapes(model: Generator) -> list[tuple[int, int, int]]:
    """(channels, height, width) of each block's maps, e.g. [(128, 7, 7), (64, 14, 14), (1, 28, 28)] at 28x28."""
    points, shapes = set(mix_points(model)), []
    with torch.no_grad():
        labels = torch.zeros(1, dtype=torch.long) if model.num_classes else None
        h = model.input_map(torch.zeros(1, model.latent_dim), labels)
        was_training = model.training
        model.eval()
        try:
            for i, layer in enumerate(model.main):
                h = layer(h)
                if i in points:
                    shapes.append(tuple(h.shape[1:]))
        finally:
            model.train(was_training)
    return shapes


def check_block(model: Generator, block: int) -> None:
    count = len(mix_points(model))
    if not isinstance(block, int) or isinstance(block, bool) or not 0 <= block < count:
        shapes = ", ".join(f"{k} = {c}x{h}x{w}" for k, (c, h, w) in enumerate(block_shapes(model)))
        raise ConfigError(f"block must be from 0 to {count - 1} for this generator ({shapes}), got {block!r}",
                          field="block")


def restyle(content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """AdaIN (Huang & Belongie 2017, eq. 8): `content`'s maps (N, C, H, W) with `style`'s per-channel mean and
    standard deviation."""
    mu_c, sigma_c = content.mean((2, 3), keepdim=True), content.std((2, 3), keepdim=True, unbiased=False)
    mu_s, sigma_s = style.mean((2, 3), keepdim=True), style.std((2, 3), keepdim=True, unbiased=False)
    return sigma_s * (content - mu_c) / (sigma_c + EPS) + mu_s


@torch.no_grad()
def mixed_images(model: Generator, z_a: torch.Tensor, z_b: torch.Tensor, block: int,
                 labels: torch.Tensor | None = None) -> torch.Tensor:
    """G's output (N, C, H, W) in [-1, 1] for pairs z_a[i], z_b[i] (N, latent_dim) mixed from `block` on. G runs
    in eval mode (BatchNorm's running statistics), so each image depends on its own pair only."""
    check_block(model, block)
    if z_a.shape != z_b.shape:
        raise ConfigError(f"A and B must be the same number of noise vectors, got {tuple(z_a.shape)} and "
                          f"{tuple(z_b.shape)}")
    mixing = set(mix_points(model)[block:])
    was_training = model.training
    model.eval()
    try:
        h_a, h_b = model.input_map(z_a, labels), model.input_map(z_b, labels)  # (N, Z, 1, 1)
        for i, layer in enumerate(model.main):
            h_a, h_b = layer(h_a), layer(h_b)  # B runs on its own: its statistics are the style
            if i in mixing:
                h_a = restyle(h_a, h_b)
        return h_a
    finally:
        model.train(was_training)


class StyleMix(Images):
    """The familiar grid: B's images along the top, A's down the left, and at row i, column j, A_i's early blocks
    with B_j's style from `block` on. A (1 + rows) x (1 + columns) grid of uint8 images, the corner left black."""

    def __init__(self, a: torch.Tensor, b: torch.Tensor, mixes: torch.Tensor, block: int,
                 shape: tuple[int, int, int], row_seeds: list[int], column_seeds: list[int]):
        corner = torch.zeros_like(a[:1])
        tiles = [corner, b] + [torch.cat([a[i:i + 1], mixes[i]]) for i in range(a.shape[0])]
        super().__init__(torch.cat(tiles), nrow=b.shape[0] + 1, scale=display_scale(a.shape[-1], FIGURE_SIDE))
        self.a, self.b, self.mixes = a, b, mixes  # (R, C, H, W), (K, C, H, W), (R, K, C, H, W) uint8
        self.block, self.shape = block, shape  # the block mixed from, and its maps' (channels, height, width)
        self.row_seeds, self.column_seeds = row_seeds, column_seeds


def style_mix(g: LoadedGenerator, rows: Sequence[int], columns: Sequence[int], block: int,
              label: int | None = None) -> StyleMix:
    """A style-mixing grid for seeds: A = `rows` (early blocks), B = `columns` (style from `block` on)."""
    rows, columns = list(rows), list(columns)
    for name, seeds in (("rows", rows), ("columns", columns)):
        if not 1 <= len(seeds) <= MAX_SIDE:
            raise ConfigError(f"give 1 to {MAX_SIDE} seeds for the {name}, got {len(seeds)}", field=name)
    model = g.model
    check_block(model, block)
    z_a, z_b = g.seed_latents(rows), g.seed_latents(columns)
    n_a, n_b = len(rows), len(columns)
    pairs_a = z_a.repeat_interleave(n_b, dim=0).to(g.device)  # (R*K, D): row-major pairs
    pairs_b = z_b.repeat(n_a, 1).to(g.device)
    y = g._labels(n_a * n_b, label)
    mixes = to_uint8(mixed_images(model, pairs_a, pairs_b, block, y.to(g.device) if y is not None else None))
    return StyleMix(g.generate(z_a, label), g.generate(z_b, label), mixes.view(n_a, n_b, *mixes.shape[1:]), block,
                    block_shapes(model)[block], rows, columns)
