"""The Inception Score (and its classifier analogue) on logits whose score is known."""

import math

import pytest
import torch

from dcgan.metrics.inception_score import inception_score


def confident(classes, count):
    """Logits that put almost all mass on the given class of each row."""
    logits = torch.full((count, 10), -30.0)
    logits[torch.arange(count), classes] = 30.0
    return logits


def test_confident_and_evenly_spread_predictions_score_the_number_of_classes():
    # Each of the 10 splits holds a random 1/10 of the samples, so its class mix is only nearly even.
    mean, std = inception_score(confident(torch.arange(10000) % 10, 10000))
    assert mean == pytest.approx(10, rel=0.01) and std < 0.05


def test_one_class_scores_one():
    mean, _ = inception_score(confident(torch.zeros(1000, dtype=torch.long), 1000))
    assert mean == pytest.approx(1, abs=1e-6)


def test_uncertain_predictions_score_one():
    mean, _ = inception_score(torch.zeros(1000, 10))
    assert mean == pytest.approx(1, abs=1e-6)


def test_two_classes_half_and_half_score_two():
    mean, _ = inception_score(confident(torch.arange(10000) % 2, 10000))
    assert math.log(mean) == pytest.approx(math.log(2), rel=1e-3)
