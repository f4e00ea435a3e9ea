"""Attribute directions (issue 20): a class's log-odds under the shipped Fashion-MNIST classifier fitted linearly
over sampled z, and slides along the fitted direction, from the Python API and `dcgan attribute`."""

from __future__ import annotations

import math

import pytest
import torch
from PIL import Image

from dcgan.attributes import class_logits, fit_direction, log_odds, slide
from dcgan.cli import main
from dcgan.config import TrainConfig
from dcgan.errors import ConfigError
from dcgan.models import Generator
from dcgan.sampling import LoadedGenerator, load_generator

TROUSER = 1


@pytest.fixture(scope="module")
def g(fashion_run):
    return load_generator(fashion_run)


@pytest.fixture(scope="module")
def logits():
    return class_logits("fashion-mnist")[0]


def test_log_odds_is_log_p_over_one_minus_p():
    scores = torch.tensor([[2.0, 0.5, -1.0]])
    p = torch.softmax(scores, dim=1)[0, 0]
    assert log_odds(scores, 0).item() == pytest.approx(math.log(p / (1 - p)), rel=1e-6)


def test_the_fitted_direction_is_a_unit_vector_that_raises_the_class(g, logits):
    direction = fit_direction(g, logits, TROUSER, "Trouser", samples=1000)
    assert direction.vector.shape == (g.config.latent_dim,)
    assert direction.vector.norm().item() == pytest.approx(1.0, abs=1e-5)
    assert direction.slope > 0 and direction.r2 <= 1
    # Fresh seeds (not those of the fit) moved 3 standard deviations along it: their log-odds of the class rises.
    seeds = list(range(10_000, 10_012))
    result = slide(g, direction, seeds, steps=4, distance=3.0, logits=logits)
    start, end = result.tensor.view(12, 4, 1, 28, 28)[:, 0], result.tensor.view(12, 4, 1, 28, 28)[:, -1]
    assert log_odds(logits(end), TROUSER).mean() > log_odds(logits(start), TROUSER).mean() + 1.0
    assert result.probabilities[:, -1].mean() > result.probabilities[:, 0].mean()
    again = fit_direction(g, logits, TROUSER, "Trouser", samples=1000)
    assert torch.equal(again.vector, direction.vector)  # the fit is a function of its seed


def test_a_slide_starts_at_each_seeds_own_image(g, logits):
    direction = fit_direction(g, logits, TROUSER, samples=500)
    result = slide(g, direction, [3, 4], steps=6, distance=2.0)
    assert result.tensor.shape == (12, 1, 28, 28) and result.nrow == 6 and result.probabilities is None
    assert torch.equal(result.tensor[[0, 6]], g.generate(g.seed_latents([3, 4])))
    step = (result.z[1:6] - result.z[:5]).norm(dim=1)
    assert torch.allclose(step, torch.full((5,), 2.0 / 5), atol=1e-5)  # evenly along the unit vector


def test_bad_attribute_input_teaches(g, logits):
    with pytest.raises(ConfigError, match="unknown class 'hat'"):
        g.attribute("hat")
    direction = fit_direction(g, logits, TROUSER, samples=200)
    with pytest.raises(ConfigError, match="steps must be from 2"):
        slide(g, direction, 0, steps=1)
    with pytest.raises(ConfigError, match="samples must be from 100"):
        fit_direction(g, logits, TROUSER, samples=10)
    cifar = TrainConfig(dataset="cifar10").resolved()
    colour = LoadedGenerator(Generator(32, 3, 100, 8), cifar, 0, "cifar-run")
    with pytest.raises(ConfigError, match="a domain classifier exists for mnist and fashion-mnist only, not cifar10"):
        colour.attribute("cat")


def test_dcgan_attribute_writes_the_strip_and_prints_the_probabilities(fashion_run, tmp_path, capsys):
    out = tmp_path / "toward.png"
    assert main(["attribute", str(fashion_run), "--toward", "trouser", "--steps", "5", "--from", "0,1",
                 "--samples", "500", "--out", str(out)]) == 0
    assert Image.open(out).size == (5 * 84 + 6 * 2, 2 * 84 + 3 * 2)
    text = capsys.readouterr().out
    assert "direction toward class 1 (Trouser)" in text and "held-out R^2" in text
    assert text.count("p(Trouser)") == 2
    assert main(["attribute", str(fashion_run), "--toward", "hat"]) == 2
    assert "unknown class 'hat'" in capsys.readouterr().err
