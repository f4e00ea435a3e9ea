"""The shipped classifiers (Fashion-MNIST and MNIST): their records, their weights, their accuracy on real test
images."""

import json

import pytest
import torch

from dcgan.checkpoint import read_safetensors, write_safetensors
from dcgan.errors import CheckpointError
from dcgan.metrics.classifier import (MIN_ACCURACY, PACKAGE_WEIGHTS, DomainClassifier, TrainedClassifier,
                                      accuracy, load_classifier, record_path, save_classifier)

SHIPPED = {name: PACKAGE_WEIGHTS / f"{name}-classifier.safetensors" for name in ("fashion-mnist", "mnist")}


@pytest.mark.parametrize("dataset,floor", [("fashion-mnist", 0.91), ("mnist", 0.99)])
def test_the_shipped_record_shows_the_required_test_accuracy(dataset, floor):
    assert MIN_ACCURACY[dataset] == floor
    record = json.loads(record_path(SHIPPED[dataset]).read_text())
    assert record["dataset"] == dataset
    assert record["test_accuracy"] >= floor and record["test_images"] == 10000 and record["train_images"] == 60000
    assert record["command"].startswith(f"dcgan train-classifier --dataset {dataset}")
    assert record["epochs"] >= 1
    assert 50_000 < SHIPPED[dataset].stat().st_size < 1_000_000  # a few hundred KB


@pytest.mark.parametrize("dataset,test_split", [("fashion-mnist", "fashion_test"), ("mnist", "mnist_test")])
def test_the_shipped_weights_classify_real_test_images(dataset, test_split, request):
    test = request.getfixturevalue(test_split)
    trained = load_classifier(SHIPPED[dataset])
    assert trained.dataset == dataset and len(trained.class_names) == 10
    assert trained.test_accuracy >= MIN_ACCURACY[dataset]
    # Every 5th test image: 2,000 images, a quick and unbiased subset.
    assert accuracy(trained.model, test.images[::5], test.labels[::5]) >= MIN_ACCURACY[dataset]


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
    with pytest.raises(CheckpointError, match="is not a readable safetensors file .*: cut short or not one; "
                                              "train one with `dcgan train-classifier`"):
        load_classifier(bad)
    generator = tmp_path / "generator.safetensors"
    write_safetensors(generator, {"w": torch.zeros(2)}, "dcgan-generator", 1)
    with pytest.raises(CheckpointError, match="is not a dcgan classifier \\(no 'dcgan-classifier' marker\\); "
                                              "train one with"):
        load_classifier(generator)


def test_a_classifier_whose_weights_do_not_fit_its_metadata_is_one_line(tmp_path):
    weights, _ = save_classifier(TrainedClassifier(DomainClassifier(width=8), "mnist", [str(i) for i in range(10)],
                                                   0.5, {}), tmp_path / "c.safetensors")
    tensors, meta = read_safetensors(weights, "dcgan-classifier")
    fields = {k: v for k, v in meta.items() if not k.startswith("format")}
    write_safetensors(weights, tensors, "dcgan-classifier", 1, **{**fields, "width": "32"})  # weights of width 8
    with pytest.raises(CheckpointError) as refused:
        load_classifier(weights)
    message = str(refused.value)
    assert "\n" not in message and message.startswith(f"{weights} is not a readable dcgan classifier (")
    assert message.endswith("; train one with `dcgan train-classifier`")
