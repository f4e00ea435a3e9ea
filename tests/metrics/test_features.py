"""Choosing a feature space: the offline Inception message, the fallback to the classifier, datasets without one."""

import pytest
import torch

from dcgan.errors import ConfigError
from dcgan.metrics.features import classifier_features, resolve_features


@pytest.fixture
def no_inception(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty torch.hub cache


def test_inception_offline_says_what_is_missing_and_what_to_do(no_inception):
    with pytest.raises(ConfigError) as e:
        resolve_features("inception", "fashion-mnist")
    message = str(e.value)
    assert "Inception-v3" in message and "weights" in message
    assert "--inception-weights PATH" in message and "--features classifier" in message


def test_auto_falls_back_to_the_classifier_and_says_why(no_inception):
    notes = []
    extractor = resolve_features("auto", "fashion-mnist", notes=notes)
    assert extractor.space == "classifier" and extractor.dim == 128
    assert len(notes) == 1 and "not comparable with Inception" in notes[0]


def test_a_missing_inception_weights_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_features("inception", "cifar10", inception_weights=tmp_path / "nope.pth")


def test_classifier_features_are_only_for_grey_28px_datasets():
    with pytest.raises(ConfigError, match="--features inception"):
        classifier_features("cifar10")


def test_a_dataset_without_a_trained_classifier_says_how_to_train_one(tmp_path, monkeypatch):
    monkeypatch.setattr("dcgan.metrics.features.PACKAGE_WEIGHTS", tmp_path / "no-weights")  # none shipped
    with pytest.raises(ConfigError, match="dcgan train-classifier --dataset mnist"):
        classifier_features("mnist")


def test_colour_and_64px_images_are_converted_for_the_classifier(fashion_test):
    extractor = classifier_features("fashion-mnist")
    grey28 = fashion_test.images[:8]
    big = torch.nn.functional.interpolate(grey28.float(), size=64, mode="bilinear").round().to(torch.uint8)
    a, b = extractor(grey28), extractor(big.expand(-1, 3, -1, -1))
    assert b.features.shape == (8, 128) and b.logits.shape == (8, 10)
    assert (a.logits.argmax(1) == b.logits.argmax(1)).float().mean() >= 0.75


@pytest.fixture(scope="module")
def random_inception_weights(tmp_path_factory):
    """A weights file of torch-fidelity's Inception-v3 with random values: the real network and file format,
    without the 92 MB download (the numbers mean nothing; the plumbing is what is tested)."""
    from torch import nn
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    load, load_state = torch.load, nn.Module.load_state_dict
    torch.load, nn.Module.load_state_dict = (lambda *a, **k: {}), (lambda self, *a, **k: None)
    try:
        net = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path="none")
    finally:
        torch.load, nn.Module.load_state_dict = load, load_state
    path = tmp_path_factory.mktemp("inception") / "inception.pth"
    torch.save(net.state_dict(), path)
    return path


def test_inception_weights_given_by_path_give_pool_features_for_grey_28px_images(random_inception_weights):
    notes = []
    extractor = resolve_features("auto", "fashion-mnist", inception_weights=random_inception_weights, notes=notes)
    assert extractor.space == "inception" and notes == []  # auto prefers Inception when its weights are here
    out = extractor(torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8))
    assert out.features.shape == (4, 2048) and out.logits.shape == (4, 1008)
    assert torch.isfinite(out.features).all()
