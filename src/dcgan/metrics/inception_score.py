"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs", section 4):
IS = exp(E_x KL(p(y|x) || p(y))), high when each sample is confidently one class (p(y|x) peaked) and the samples
spread over many classes (p(y) flat). Its maximum is the number of classes.

With Inception-v3 the classes are ImageNet's 1008; with a domain classifier it is the same formula over the
dataset's own classes (its "classifier score" analogue, at most 10 for MNIST or Fashion-MNIST); compare a
generator's score with that of real images.
"""

from __future__ import annotations

import torch
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric

SPLITS = 10  # the paper's protocol: the mean and std over 10 splits


def inception_score(logits: torch.Tensor, seed: int = 0) -> tuple[float, float]:
    """(mean, std) over SPLITS splits of the samples' class logits, by torch-fidelity."""
    out = isc_features_to_metric(logits.float(), splits=min(SPLITS, logits.shape[0]), shuffle=True, rng_seed=seed)
    return float(out[KEY_METRIC_ISC_MEAN]), float(out[KEY_METRIC_ISC_STD])
