"""Nearest-neighbour copy detection: copies of training images against new images."""

import pytest
import torch

from dcgan.metrics.memorization import leave_one_out, memorization, nearest


def test_nearest_finds_the_closest_vector_and_can_exclude_itself():
    pool = torch.tensor([[0.0, 0.0], [1.0, 0.0], [5.0, 5.0]])
    dist, index = nearest(torch.tensor([[0.9, 0.1]]), pool)
    assert index.tolist() == [1] and dist[0] == pytest.approx(2 ** 0.5 / 10, rel=1e-5)
    _, index = nearest(pool, pool, exclude_self=True)
    assert index.tolist() == [1, 0, 1]


def test_copies_of_the_training_set_are_flagged_and_new_samples_are_not():
    gen = torch.Generator().manual_seed(0)
    pool = torch.randn(3000, 8, generator=gen)
    baseline = leave_one_out(pool, 2000)
    copies = memorization(pool[:500] + 1e-4 * torch.randn(500, 8, generator=gen), pool, baseline)
    assert copies.nn_ratio < 0.05 and copies.copies > 0.95
    fresh = memorization(torch.randn(500, 8, generator=gen), pool, baseline)
    assert 0.7 < fresh.nn_ratio < 1.3 and fresh.copies < 0.05
    assert len(fresh.closest) == 8
