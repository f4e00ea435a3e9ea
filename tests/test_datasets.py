"""The dataset registry: every named dataset is one entry, and the config, the readers, `dcgan info` and the errors
read it, so a new entry is all a dataset in a known format needs."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import write_mnist_layout
from dcgan import datasets
from dcgan.config import TrainConfig, schema
from dcgan.data import READERS, available_offline, load_dataset, locate
from dcgan.datasets import DATASETS, DatasetKind, data_home
from dcgan.errors import ConfigError, DataError


@pytest.mark.parametrize("name", list(DATASETS))
def test_every_entry_is_complete(name):
    kind = DATASETS[name]
    assert kind.name == name and kind.format in READERS and kind.summary
    assert kind.channels in (1, 3) and kind.image_size in (16, 28, 32, 64, 128, 256)
    for split, counts in (kind.class_counts or {}).items():
        assert split in ("train", "test") and len(counts) == len(kind.class_names)
    config = TrainConfig(dataset=name, steps=1).resolved()
    assert (config.image_size, config.channels) == (kind.image_size, kind.channels)
    assert name in next(f["help"] for f in schema() if f["name"] == "dataset")
    if not kind.labelled:
        with pytest.raises(ConfigError, match="needs class labels"):
            TrainConfig(dataset=name, conditional=True).validate()


def test_the_data_home_follows_its_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_DATA_HOME", str(tmp_path / "mine"))
    assert data_home() == tmp_path / "mine"
    monkeypatch.delenv("DCGAN_DATA_HOME")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_home() == tmp_path / "xdg" / "dcgan" / "datasets"


def test_unknown_names_list_the_registry():
    with pytest.raises(ConfigError, match="choose one of mnist, fashion-mnist, cifar10, celeba or folder:PATH"):
        TrainConfig(dataset="imagenet").validate()
    with pytest.raises(ConfigError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet", "data", 28, 1)


def test_one_new_entry_is_a_new_dataset(tmp_path, monkeypatch):
    """KMNIST (Clanuwat et al. 2018) ships in MNIST's IDX format: one entry makes it trainable, listed and
    explained, with nothing else changed."""
    kmnist = DatasetKind("kmnist", "cursive Japanese, 28x28 grey", 28, 1, "idx", "KMNIST", "KMNIST",
                         class_names=("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"))
    monkeypatch.setitem(DATASETS, "kmnist", kmnist)
    monkeypatch.setenv("DCGAN_DATA_HOME", str(tmp_path / "home"))
    config = TrainConfig(dataset="kmnist", conditional=True, steps=1).resolved()
    assert (config.image_size, config.channels) == (28, 1)
    assert available_offline(tmp_path / "data")["kmnist"] is None
    with pytest.raises(DataError, match="Ways to get it: `dcgan fetch kmnist`"):
        load_dataset("kmnist", tmp_path / "data", 28, 1, download=False)
    images, labels = write_mnist_layout(tmp_path / "home", "KMNIST", n=40)
    assert locate("kmnist", tmp_path / "data") == str(tmp_path / "home" / "KMNIST")
    data = load_dataset("kmnist", tmp_path / "data", 28, 1, download=False)
    assert np.array_equal(data.images[:, 0].numpy(), images) and data.class_names[1] == "ki"
    assert "kmnist" in datasets.choices_text()

