"""Improved precision and recall (k=3) on constructed feature sets."""

import torch

from dcgan.metrics.precision_recall import precision_recall


def clusters(centres, per, seed):
    gen = torch.Generator().manual_seed(seed)
    return torch.cat([c + 0.1 * torch.randn(per, c.shape[0], generator=gen) for c in centres])


CENTRES = [torch.full((8,), float(10 * i)) for i in range(4)]


def test_identical_sets_have_full_precision_and_recall():
    x = clusters(CENTRES, 100, 0)
    assert precision_recall(x, x.clone()) == (1.0, 1.0)


def test_disjoint_sets_have_zero_precision_and_recall():
    real = clusters(CENTRES[:2], 100, 0)
    fake = clusters(CENTRES[2:], 100, 1)
    assert precision_recall(fake, real) == (0.0, 0.0)


def test_a_collapsed_generator_keeps_precision_and_loses_recall():
    real = clusters(CENTRES, 100, 0)
    fake = real[:100].clone()  # every sample in the first of the four modes
    assert precision_recall(fake, real) == (1.0, 0.25)


def test_sets_of_k_vectors_or_fewer_are_refused_with_a_clear_error():
    """Each vector's radius is its distance to its k-th nearest other vector: k + 1 = 4 vectors at least."""
    import pytest

    from dcgan.errors import ConfigError

    x = clusters(CENTRES, 1, 0)  # 4 vectors: the least that works
    assert precision_recall(x[:4], x[:4]) == (1.0, 1.0)
    with pytest.raises(ConfigError, match="need at least 4 samples and 4 real images, got 3 samples"):
        precision_recall(x[:3], x)
    with pytest.raises(ConfigError, match="got 4 samples and 2 real images"):
        precision_recall(x, x[:2])
