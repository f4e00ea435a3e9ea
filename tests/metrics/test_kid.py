"""KID: the same unbiased MMD^2 torchmetrics computes, on the same features."""

import pytest
import torch
from torchmetrics.image.kid import KernelInceptionDistance

from dcgan.metrics.kid import kernel_inception_distance


class Identity(torch.nn.Module):
    num_features = 32

    def forward(self, x):
        return x


def test_kid_matches_torchmetrics_on_the_full_sets():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(400, 32, generator=gen)
    fake = 1.3 * torch.randn(400, 32, generator=gen) + 0.2
    # One subset of all 400 vectors: both sides compute the same unbiased estimator on the same data.
    ours, spread = kernel_inception_distance(fake, real)
    assert spread is None  # every subset is all 400 vectors: no spread to report (not a std of 0)
    theirs = KernelInceptionDistance(feature=Identity(), subsets=1, subset_size=400)
    theirs.update(real, real=True)
    theirs.update(fake, real=False)
    expected = float(theirs.compute()[0])
    assert expected > 0.01
    assert ours == pytest.approx(expected, rel=1e-4)


def test_kid_is_near_zero_for_one_distribution_and_has_a_spread():
    gen = torch.Generator().manual_seed(1)
    a, b = torch.randn(3000, 32, generator=gen), torch.randn(3000, 32, generator=gen)
    mean, std = kernel_inception_distance(a, b)
    assert abs(mean) < 3 * std and std > 0
