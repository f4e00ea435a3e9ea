"""Mode statistics: a collapsed set against a uniform one."""

import math

import pytest
import torch

from dcgan.metrics.modes import class_histogram, diversity, mean_pairwise_distance, mode_statistics

REAL = torch.full((10,), 0.1)  # the real mix: ten equal classes, as in Fashion-MNIST


def logits_for(classes):
    return torch.nn.functional.one_hot(classes, 10).float() * 10


def test_uniform_samples_cover_every_class_with_zero_kl():
    stats = mode_statistics(logits_for(torch.arange(1000) % 10), REAL)
    assert stats.covered == 10 and stats.num_classes == 10
    assert stats.kl == pytest.approx(0, abs=1e-6)
    assert stats.histogram == [0.1] * 10


def test_collapsed_samples_cover_one_class_with_kl_log_k():
    stats = mode_statistics(logits_for(torch.full((1000,), 3)), REAL)
    assert stats.covered == 1
    assert stats.kl == pytest.approx(math.log(10), rel=1e-6)


def test_a_stray_sample_does_not_count_as_a_covered_class():
    classes = torch.cat([torch.full((999,), 3), torch.tensor([4])])
    assert mode_statistics(logits_for(classes), REAL).covered == 1


def test_histogram_sums_to_one():
    assert float(class_histogram(torch.randn(500, 10), 10).sum()) == pytest.approx(1)


def test_diversity_is_one_for_the_real_spread_and_small_when_collapsed():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(1000, 16, generator=gen)
    baseline = mean_pairwise_distance(real)
    assert diversity(torch.randn(1000, 16, generator=gen), baseline) == pytest.approx(1, abs=0.05)
    collapsed = real[:1] + 0.05 * torch.randn(1000, 16, generator=gen)
    assert diversity(collapsed, baseline) < 0.1
