"""Fixtures for the metrics tests: a session-wide dcgan cache in a temporary folder (reference statistics are
computed once per session, never in the user's cache), and the real Fashion-MNIST and MNIST test images."""

from __future__ import annotations

import pytest

from conftest import FASHION_DIR
from dcgan.data import load_dataset


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("dcgan-cache")


@pytest.fixture(autouse=True)
def _isolated_cache(cache_dir, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(cache_dir))
    monkeypatch.setenv("DCGAN_OFFLINE", "1")  # never try to download Inception weights in a test


@pytest.fixture(scope="session")
def fashion_test():
    """The official Fashion-MNIST test split (10,000 images) at 28x28."""
    assert (FASHION_DIR / "t10k-images-idx3-ubyte.gz").is_file()
    return load_dataset("fashion-mnist", "/nonexistent-data-dir", 28, 1, split="test", download=False)


@pytest.fixture(scope="session")
def mnist_test(mnist):
    """The official MNIST test split (10,000 digits) at 28x28, from the data home (the `mnist` fixture checks it
    is there)."""
    return load_dataset("mnist", "/nonexistent-data-dir", 28, 1, split="test", download=False)
