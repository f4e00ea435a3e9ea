"""The metrics, as a table of data: name -> what it needs and how it is computed from the samples' features and
the real reference, and the feature spaces they are measured in. Torch is imported where a metric is computed, so
the command line reads these names at once.

Each metric returns flat numbers (for tables, metrics.jsonl, TensorBoard, charts) and details (for eval.json).
Adding a metric is adding one entry; `dcgan eval --metrics fid,kid` picks a subset by these names.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from dcgan.metrics.features import Features
    from dcgan.metrics.reference import Reference

# Where samples are compared (dcgan.metrics.features): "auto" takes Inception-v3 when its weights are here, else
# the domain classifier (dcgan.metrics.classifier), which exists for these grey 28x28 datasets with 10 classes.
FEATURE_SPACES = ("auto", "inception", "classifier")
CLASSIFIER_DATASETS = ("mnist", "fashion-mnist")

Result = tuple[dict[str, float], dict[str, Any]]


@dataclass(frozen=True)
class Metric:
    name: str
    summary: str  # one line for --help and the docs
    needs: str  # "features", "logits" (a classifying extractor) or "classes" (a domain classifier's classes)
    compute: Callable[[Features, Reference, int], Result]


def _real_set(fake: Features, ref: Reference):
    """The first n pool vectors (a fixed random subset of the real images) against n samples."""
    return ref.pool[:len(fake)]


def _fid(fake: Features, ref: Reference, seed: int) -> Result:
    from dcgan.metrics.fid import fit_gaussian, frechet_distance

    return {"fid": frechet_distance(fit_gaussian(fake.features), ref.gaussian)}, {}


def _kid(fake: Features, ref: Reference, seed: int) -> Result:
    from dcgan.metrics.kid import kernel_inception_distance

    mean, std = kernel_inception_distance(fake.features, _real_set(fake, ref), seed)
    return ({"kid": mean} if std is None else {"kid": mean, "kid_std": std}), {}


def _precision_recall(fake: Features, ref: Reference, seed: int) -> Result:
    from dcgan.metrics.precision_recall import precision_recall

    precision, recall = precision_recall(fake.features, _real_set(fake, ref))
    return {"precision": precision, "recall": recall}, {}


def _inception_score(fake: Features, ref: Reference, seed: int) -> Result:
    from dcgan.metrics.inception_score import inception_score

    mean, std = inception_score(fake.logits, seed)
    numbers = {"is": mean, "is_std": std}
    if ref.score is not None:
        numbers["is_real"] = ref.score[0]
    return numbers, {}


def _modes(fake: Features, ref: Reference, seed: int) -> Result:
    from dcgan.metrics.modes import mode_statistics

    stats = mode_statistics(fake.logits, ref.class_histogram)
    return ({"classes_covered": float(stats.covered), "num_classes": float(stats.num_classes),
             "class_kl": stats.kl},
            {"class_histogram": stats.histogram,
             "real_class_histogram": [round(float(v), 6) for v in ref.class_histogram]})


def _diversity(fake: Features, ref: Reference, seed: int) -> Result:
    from dcgan.metrics.modes import diversity

    return {"diversity": diversity(fake.features, ref.mean_distance)}, {}


def _memorization(fake: Features, ref: Reference, seed: int) -> Result:
    from dcgan.metrics.memorization import memorization

    found = memorization(fake.features, ref.pool, ref.baseline_nn)
    closest = [{"sample": c["sample"], "train_index": int(ref.pool_indices[c["pool_index"]]), "ratio": c["ratio"]}
               for c in found.closest]
    return {"nn_ratio": found.nn_ratio, "copies": found.copies}, {"closest": closest}


METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric("fid", "Frechet distance of feature Gaussians (Heusel et al. 2017)", "features", _fid),
    Metric("kid", "kernel (MMD^2) distance, unbiased (Binkowski et al. 2018)", "features", _kid),
    Metric("pr", "precision and recall with k=3 (Kynkaanniemi et al. 2019)", "features", _precision_recall),
    Metric("is", "Inception Score, or its classifier analogue (Salimans et al. 2016)", "logits", _inception_score),
    Metric("modes", "class histogram: classes covered and KL to the real mix", "classes", _modes),
    Metric("diversity", "mean pairwise feature distance relative to real images", "features", _diversity),
    Metric("memorization", "nearest training neighbours: distance ratio and copies", "features", _memorization),
)}
