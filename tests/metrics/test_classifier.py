"""The shipped Fashion-MNIST classifier: its record, its weights, its accuracy on real test images."""

import json

import pytest
import torch

from dcgan.errors import CheckpointError
from dcgan.metrics.classifier import (PACKAGE_WEIGHTS, DomainClassifier, TrainedClassifier, accuracy,
                                      load_classifier, record_path, save_classifier)

SHIPPED = PACKAGE_WEIGHTS / "fashion-mnist-classifier.safetensors"


def test_the_shipped_record_shows_at_least_91_percent_test_accuracy():
    record = json.loads(record_path(SHIPPED).read_text())
    assert record["dataset"] == "fashion-mnist"
    assert record["test_accuracy"] >= 0.91 and record["test_images"] == 10000
    assert record["command"].startswith("dcgan train-classifier --dataset fashion-mnist")
    assert record["epochs"] >= 1
    assert 50_000 < SHIPPED.stat().st_size < 1_000_000  # a few hundred KB


def test_the_shipped_weights_classify_real_test_images(fashion_test):
    trained = load_classifier(SHIPPED)
    assert trained.dataset == "fashion-mnist" and len(trained.class_names) == 10
    assert trained.test_accuracy >= 0.91
    # Every 5th test image: 2,000 images, a quick and unbiased subset.
    assert accuracy(trained.model, fashion_test.images[::5], fashion_test.labels[::5]) >= 0.91


def test_save_and_load_round_trip(tmp_path):
    model = DomainClassifier().eval()
    weights, record = save_classifier(TrainedClassifier(model, "mnist", [str(i) for i in range(10)], 0.5,
                                                        {"epochs": 1}), tmp_path / "c.safetensors")
    loaded = load_classifier(weights)
    x = torch.randn(4, 1, 28, 28)
    with torch.no_grad():
        assert torch.allclose(loaded.model(x)[1], model(x)[1], atol=1e-2)  # float16 storage
    assert json.loads(record.read_text())["test_accuracy"] == 0.5


def test_a_file_that_is_not_a_classifier_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointError, match="dcgan train-classifier"):
        load_classifier(bad)
