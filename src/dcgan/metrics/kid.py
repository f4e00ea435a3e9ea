"""Kernel Inception Distance (Binkowski et al. 2018, "Demystifying MMD GANs", section 3): the squared maximum
mean discrepancy between real and generated features under the cubic polynomial kernel
k(x, y) = (x.y / d + 1)^3, estimated without bias on random subsets; we report the mean and the standard
deviation over the subsets.

Unlike FID it has an unbiased estimator, so values from different sample counts compare; 0 means the
distributions match (small negative values happen by chance).
"""

from __future__ import annotations

import torch
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

SUBSETS = 100  # the paper's and torch-fidelity's defaults
SUBSET_SIZE = 1000
MIN_SUBSETS = 10


def subset_count(samples: int) -> int:
    """100 subsets (the standard) from 5,000 samples up; fewer for the small sets of evaluations during
    training, whose subsets of 1,000 would overlap so much that more of them add time, not information."""
    return max(MIN_SUBSETS, min(SUBSETS, samples // 50))


def kernel_inception_distance(fake: torch.Tensor, real: torch.Tensor, seed: int = 0) -> tuple[float, float | None]:
    """(mean, std) of the MMD^2 over subset_count(N) subsets of min(1000, N) features each, by torch-fidelity.
    With 1,000 samples or fewer every subset is all of them: one value, and the std is None, not a spread of 0."""
    size = min(SUBSET_SIZE, fake.shape[0], real.shape[0])
    whole = size == fake.shape[0] and size == real.shape[0]
    out = kid_features_to_metric(fake.float(), real.float(), kid_subsets=1 if whole else subset_count(fake.shape[0]),
                                 kid_subset_size=size, rng_seed=seed, verbose=False)
    return float(out[KEY_METRIC_KID_MEAN]), None if whole else float(out[KEY_METRIC_KID_STD])
