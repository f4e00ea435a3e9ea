"""The sanity ladder on real Fashion-MNIST: FID orders sets of known quality correctly."""

from dcgan.data import ImageData
from dcgan.metrics.evaluate import evaluate_images
from dcgan.metrics.features import classifier_features
from dcgan.metrics.ladder import ladder_sets
from dcgan.metrics.reference import reference_statistics


def test_fid_orders_degraded_sets_correctly(fashion, fashion_test):
    extractor = classifier_features("fashion-mnist")
    reference = reference_statistics("fashion-mnist", ImageData(fashion.images[:10000], fashion.labels[:10000]),
                                     extractor)
    fid = {name: evaluate_images(make(), extractor, reference, metrics=["fid", "modes"]).metrics
           for name, make in ladder_sets(fashion_test.images[:1000], fashion_test.labels[:1000])}
    real = fid["real test images"]["fid"]
    worse = [fid[k]["fid"] for k in ("real, blurred (sigma 1 px)", "real + pixel noise (sigma 25)",
                                     "real, half the classes", "real, one class", "uniform noise")]
    assert all(w > 3 * real for w in worse)  # every degradation is clearly worse than the floor
    assert fid["real, half the classes"]["fid"] < fid["real, one class"]["fid"] < fid["uniform noise"]["fid"]
    # Coverage counts predicted classes, so the classifier's confusions (T-shirt/shirt) blur the exact counts.
    covered = {k: v["classes_covered"] for k, v in fid.items()}
    assert covered["real test images"] == 10
    assert covered["real, one class"] < covered["real, half the classes"] < 10
