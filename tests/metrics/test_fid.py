"""FID: the project's pipeline (reference statistics + score) agrees with torchmetrics on the same features."""

import pytest
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from dcgan.metrics.evaluate import evaluate_images
from dcgan.metrics.features import classifier_features
from dcgan.metrics.fid import fit_gaussian, frechet_distance
from dcgan.metrics.reference import compute_reference


class FeatureModule(nn.Module):
    """The project's feature extractor as the custom `feature` module torchmetrics accepts."""

    def __init__(self, extractor):
        super().__init__()
        self.extractor = extractor
        self.num_features = extractor.dim

    def forward(self, images):
        return self.extractor(images).features


def noised(images, sigma, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (images.float() + sigma * torch.randn(images.shape, generator=gen)).clamp(0, 255).to(torch.uint8)


def test_fid_matches_torchmetrics_with_the_same_feature_extractor(fashion_test):
    extractor = classifier_features("fashion-mnist")
    real, fake = fashion_test.images[:1500], noised(fashion_test.images[1500:3000], 40)
    ours = evaluate_images(fake, extractor, compute_reference(real, extractor, "test"), metrics=["fid"]).metrics["fid"]

    theirs = FrechetInceptionDistance(feature=FeatureModule(extractor))
    theirs.update(real, real=True)
    theirs.update(fake, real=False)
    expected = float(theirs.compute())
    assert expected > 1  # a real difference, not two zeros
    assert ours == pytest.approx(expected, rel=1e-3)


def test_fid_of_a_gaussian_with_itself_is_zero_and_grows_with_a_shift():
    x = torch.randn(4000, 16, generator=torch.Generator().manual_seed(0))
    g = fit_gaussian(x)
    assert frechet_distance(g, g) == pytest.approx(0, abs=1e-6)
    # Shifting the mean by d adds |d|^2 and nothing else.
    assert frechet_distance(g, fit_gaussian(x + 0.5)) == pytest.approx(16 * 0.25, rel=1e-6)
