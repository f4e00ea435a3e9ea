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

NEIGHBOURHOOD = 3


def precision_recall(fake: torch.Tensor, real: torch.Tensor, k: int = NEIGHBOURHOOD) -> tuple[float, float]:
    """(precision, recall) by torch-fidelity, in row blocks of 2000 so 10k x 10k distances never sit in memory
    at once."""
    out = prc_features_to_metric(fake.float(), real.float(), prc_neighborhood=k, prc_batch_size=2000,
                                 save_cpu_ram=True, verbose=False)
    return float(out[KEY_METRIC_PRECISION]), float(out[KEY_METRIC_RECALL])
