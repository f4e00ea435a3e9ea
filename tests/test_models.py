import pytest
import torch
from torch import nn

from dcgan.config import IMAGE_SIZES
from dcgan.errors import ConfigError
from dcgan.models import Discriminator, Generator


@pytest.mark.parametrize("size", IMAGE_SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes(size, channels):
    g = Generator(size, channels, latent_dim=16, width=8)
    d = Discriminator(size, channels, width=8)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1  # Tanh output
    assert d(x).shape == (3,)  # one logit per image


def test_28_starts_from_7x7_and_64_from_4x4():
    assert Generator(28, 1, 100, 64).main[0].kernel_size == (7, 7)
    assert Generator(64, 3, 100, 64).main[0].kernel_size == (4, 4)
    assert Discriminator(28, 1, 64).head.kernel_size == (7, 7)


@pytest.mark.parametrize("size", [0, 8, 30, 48, 512])
def test_impossible_sizes_are_refused(size):
    with pytest.raises(ConfigError, match="28 or a power of two"):
        Generator(size, 1)


def test_paper_architecture_guidelines():
    g, d = Generator(64, 3, 100, 64), Discriminator(64, 3, 64)
    kinds = lambda m: [type(x) for x in m.modules()]  # noqa: E731
    # No pooling and no fully connected hidden layers in either network.
    for net in (g, d):
        assert not any(issubclass(k, (nn.MaxPool2d, nn.AvgPool2d, nn.Linear)) for k in kinds(net))
    # G: transposed convs, BatchNorm + ReLU on hidden layers, Tanh output without BatchNorm.
    layers = list(g.main)
    assert isinstance(layers[-1], nn.Tanh) and isinstance(layers[-2], nn.ConvTranspose2d)
    assert sum(isinstance(x, nn.BatchNorm2d) for x in layers) == 4
    assert sum(isinstance(x, nn.ReLU) for x in layers) == 4
    # D: strided convs, LeakyReLU(0.2); no BatchNorm on the first block, BatchNorm on all others.
    assert not any(isinstance(x, nn.BatchNorm2d) for x in d.blocks[0])
    assert all(any(isinstance(x, nn.BatchNorm2d) for x in block) for block in d.blocks[1:])
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    assert all(m.stride == (2, 2) for block in d.blocks for m in block if isinstance(m, nn.Conv2d))
    # Widths: 512 -> 256 -> 128 -> 64 in G, mirrored in D (the paper's 64x64 model, halved).
    assert [m.out_channels for m in g.main if isinstance(m, nn.ConvTranspose2d)] == [512, 256, 128, 64, 3]
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512, 1]


def test_weights_follow_normal_0_002_and_batchnorm_gamma_normal_1_002():
    torch.manual_seed(0)
    g = Generator(64, 3, 100, 64)
    conv = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    gamma = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    beta = torch.cat([m.bias.flatten() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(conv.mean()) < 1e-3 and abs(conv.std() - 0.02) < 1e-3
    assert abs(gamma.mean() - 1) < 5e-3 and abs(gamma.std() - 0.02) < 5e-3
    assert torch.all(beta == 0)


def test_discriminator_features_are_its_blocks():
    d = Discriminator(32, 3, 8)
    feats = d.features(torch.randn(2, 3, 32, 32))
    assert [f.shape[1:] for f in feats] == [(8, 16, 16), (16, 8, 8), (32, 4, 4)]
