"""DCGAN generator and discriminator (Radford et al. 2015, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", section 3 "Approach and model architecture").

The paper's guidelines, as built here:
- no pooling: strided convolutions in D, fractional-strided (transposed) convolutions in G;
- BatchNorm in both, except G's output layer and D's input layer;
- no fully connected hidden layers: z is projected by a transposed convolution, D ends in a convolution;
- ReLU in G with Tanh at the output, LeakyReLU(0.2) in D.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dcgan.errors import ConfigError

MAX_WIDTH_MULT = 8  # widest layer = 8 x width, as in the paper's 64x64 model (1024 -> 512 for width 64 here)


def stages(image_size: int) -> tuple[int, int]:
    """(side of the first feature map, number of stride-2 resolution doublings) for an image size.

    28 = 7 * 2 * 2 starts from 7x7 (the MNIST family's native size); powers of two start from 4x4.
    """
    if image_size == 28:
        return 7, 2
    if image_size >= 16 and image_size & (image_size - 1) == 0 and image_size <= 256:
        return 4, int(math.log2(image_size)) - 2
    raise ConfigError(f"image size {image_size} is not supported: use 28 or a power of two from 16 to 256")


def _widths(width: int, doublings: int) -> list[int]:
    """Channels of the hidden maps from the smallest (first in G) to the largest: w*2^(n-1), ..., 2w, w."""
    return [width * min(2 ** i, MAX_WIDTH_MULT) for i in reversed(range(doublings))]


class Generator(nn.Module):
    """z (B, latent_dim) -> image (B, channels, S, S) in [-1, 1]."""

    def __init__(self, image_size: int = 64, channels: int = 3, latent_dim: int = 100, width: int = 64):
        super().__init__()
        start, doublings = stages(image_size)
        self.image_size, self.channels, self.latent_dim = image_size, channels, latent_dim
        widths = _widths(width, doublings)  # 64x64, width 64: [512, 256, 128, 64]
        # Project z to the first map with a transposed conv from 1x1 (the paper's "project and reshape").
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], start, 1, 0, bias=False),  # (B, 8w, 4, 4)
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),  # doubles H and W
                nn.BatchNorm2d(c_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]  # (B, C, S, S)
        self.main = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z.view(z.shape[0], self.latent_dim, 1, 1))


class Discriminator(nn.Module):
    """image (B, channels, S, S) -> logit (B,). Sigmoid is left to the loss (the stable logits form)."""

    def __init__(self, image_size: int = 64, channels: int = 3, width: int = 64):
        super().__init__()
        start, doublings = stages(image_size)
        self.image_size, self.channels = image_size, channels
        widths = _widths(width, doublings)[::-1]  # 64x64, width 64: [64, 128, 256, 512]
        blocks: list[nn.Module] = [
            # No BatchNorm on D's input layer (section 3: it caused sample oscillation and instability).
            nn.Sequential(nn.Conv2d(channels, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            blocks.append(nn.Sequential(
                nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False),  # halves H and W
                nn.BatchNorm2d(c_out),
                nn.LeakyReLU(0.2, True),
            ))
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Conv2d(widths[-1], 1, start, 1, 0, bias=False)  # (B, 1, 1, 1): one logit per image
        init_weights(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return self.head(x).flatten()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The activation of every block, (B, C_i, H_i, W_i): D's learned representation (section 5.1)."""
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for conv weights, N(1, 0.02) for BatchNorm gamma, zero beta (Radford et al. 2015, section 4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_generator(config) -> Generator:
    """G for a resolved TrainConfig."""
    return Generator(config.image_size, config.channels, config.latent_dim, config.g_width)


def build_discriminator(config) -> Discriminator:
    """D for a resolved TrainConfig."""
    return Discriminator(config.image_size, config.channels, config.d_width)
