"""Reference statistics: computed once per dataset, resolution and feature space, then read from the cache."""

import pytest

from dcgan.data import ImageData
from dcgan.metrics import reference
from dcgan.metrics.features import classifier_features
from dcgan.metrics.reference import reference_statistics


def test_the_reference_is_cached_and_reused(fashion_test, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    extractor = classifier_features("fashion-mnist")
    data = ImageData(fashion_test.images[:3000], fashion_test.labels[:3000])
    first = reference_statistics("fashion-mnist", data, extractor)
    files = list((tmp_path / "cache" / "reference").iterdir())
    assert len(files) == 1 and "fashion-mnist-28px-1c-classifier" in files[0].name

    def fail(*args, **kwargs):
        raise AssertionError("the cached reference was computed again")

    compute = reference.compute_reference
    monkeypatch.setattr(reference, "compute_reference", fail)
    again = reference_statistics("fashion-mnist", data, extractor)
    assert again.count == first.count == 3000
    assert (again.pool == first.pool).all() and again.mean_distance == first.mean_distance
    assert abs(again.gaussian.mu - first.gaussian.mu).max() == 0

    # Other images (another subset, another resolution) are another reference.
    monkeypatch.setattr(reference, "compute_reference", compute)
    reference_statistics("fashion-mnist", ImageData(fashion_test.images[3000:5000]), extractor)
    assert len(list((tmp_path / "cache" / "reference").iterdir())) == 2


def test_a_damaged_cache_file_is_recomputed(fashion_test, tmp_path, monkeypatch):
    monkeypatch.setenv("DCGAN_CACHE", str(tmp_path / "cache"))
    extractor = classifier_features("fashion-mnist")
    data = ImageData(fashion_test.images[:1000])
    reference_statistics("fashion-mnist", data, extractor)
    path = next((tmp_path / "cache" / "reference").iterdir())
    path.write_bytes(b"garbage")
    assert reference_statistics("fashion-mnist", data, extractor).count == 1000
    assert path.stat().st_size > 1000


@pytest.mark.parametrize("n", [1000])
def test_real_test_images_score_near_the_floor_against_real_training_images(fashion_test, n):
    """The same distribution on both sides: classes all covered, no copies, diversity near 1."""
    from dcgan.metrics.evaluate import evaluate_images

    extractor = classifier_features("fashion-mnist")
    ref = reference_statistics("fashion-mnist", ImageData(fashion_test.images[5000:]), extractor)
    report = evaluate_images(fashion_test.images[:n], extractor, ref)
    m = report.metrics
    assert m["classes_covered"] == 10 and m["class_kl"] < 0.02
    assert 0.9 < m["diversity"] < 1.1 and m["copies"] < 0.05 and 0.8 < m["nn_ratio"] < 1.3
    assert m["precision"] > 0.6 and m["recall"] > 0.6
