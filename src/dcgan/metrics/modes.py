"""Mode statistics and diversity: how generated samples spread over the data's classes and its feature space.

Mode collapse (Goodfellow 2016, "NIPS 2016 Tutorial", section 5.1.1) shows as samples piling into few classes or
few points. Two views:
- class statistics from a domain classifier's predictions (as the mode counts of Srivastava et al. 2017, VEEGAN,
  and Metz et al. 2017, Unrolled GANs): the class histogram of the samples, the classes they cover and the KL
  divergence of that histogram from the real images' histogram;
- a diversity score: the mean pairwise feature distance among samples over the same among real images (in the
  spirit of Odena et al. 2017's MS-SSIM diversity, in feature space), about 1 for a generator as varied as the
  data, towards 0 as it collapses.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# A class counts as covered when it gets at least 10% of the share of samples it has among real images: one stray
# misclassified sample must not count as a mode.
COVERED_SHARE = 0.1
DIVERSITY_SAMPLES = 2000  # features used for the mean pairwise distance: enough for a stable mean, cheap


def class_histogram(logits: torch.Tensor, num_classes: int) -> torch.Tensor:
    """The share of images predicted as each class, (K,) summing to 1."""
    counts = torch.bincount(logits.argmax(1), minlength=num_classes).double()
    return counts / counts.sum().clamp_min(1)


@dataclass
class ModeStats:
    histogram: list[float]  # share of samples per class
    covered: int  # classes with at least COVERED_SHARE of their real share
    num_classes: int
    kl: float  # KL(samples || real) over classes, in nats: 0 = the real mix; log(K) = all one class of K


def mode_statistics(logits: torch.Tensor, real_histogram: torch.Tensor) -> ModeStats:
    p = class_histogram(logits, real_histogram.shape[0])
    q = real_histogram.double().clamp_min(1e-12)
    present = real_histogram > 0
    covered = int(((p >= COVERED_SHARE * q) & present).sum())
    kl = float((p[p > 0] * (p[p > 0] / q[p > 0]).log()).sum())
    return ModeStats([round(float(v), 6) for v in p], covered, int(real_histogram.shape[0]), kl)


def mean_pairwise_distance(features: torch.Tensor, limit: int = DIVERSITY_SAMPLES) -> float:
    """Mean Euclidean distance over all pairs of distinct vectors among the first `limit`."""
    f = features[:limit].double()
    n = f.shape[0]
    if n < 2:
        return 0.0
    return float(torch.cdist(f, f).sum() / (n * (n - 1)))


def diversity(fake: torch.Tensor, real_mean_distance: float) -> float:
    return mean_pairwise_distance(fake) / real_mean_distance if real_mean_distance > 0 else float("nan")
