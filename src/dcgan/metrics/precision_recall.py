"""Improved precision and recall (Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for Assessing
Generative Models", section 2).

The real and the generated feature sets each approximate their manifold by the union of balls around every
vector, with the radius its distance to its k-th nearest neighbour (k = 3, the paper's choice). Precision is the
share of generated samples inside the real manifold (quality), recall the share of real images inside the
generated manifold (coverage: mode collapse lowers it).
"""

from __future__ import annotations

import torch
from torch_fidelity.metric_prc import KEY_METRIC_PRECISION, KEY_METRIC_RECALL, prc_features_to_metric

from dcgan.errors import ConfigError

NEIGHBOURHOOD = 3


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = NEIGHBOURHOOD) -> tuple[float, float]:
    """(precision, recall) by torch-fidelity, in row blocks of 2000 so 10k x 10k distances never sit in memory
    at once. Each set needs more than k vectors (a vector's k-th nearest neighbour is another vector)."""
    if min(fake.shape[0], real.shape[0]) <= k:
        raise ConfigError(f"precision and recall (k={k}) need at least {k + 1} samples and {k + 1} real images, got "
                          f"{fake.shape[0]} samples and {real.shape[0]} real images")
    out = prc_features_to_metric(fake.float(), real.float(), prc_neighborhood=k, prc_batch_size=2000,
                                 save_cpu_ram=True, verbose=False)
    return float(out[KEY_METRIC_PRECISION]), float(out[KEY_METRIC_RECALL])
