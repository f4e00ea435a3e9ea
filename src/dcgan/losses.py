"""GAN objectives as pure functions of D's logits.

Written with softplus, the numerically stable form of the sigmoid cross-entropy:
  -log sigmoid(l) = softplus(-l),   -log(1 - sigmoid(l)) = softplus(l).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def d_loss_nonsaturating(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """D maximises log D(x) + log(1 - D(G(z))) (Goodfellow et al. 2014, eq. 1)."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """G maximises log D(G(z)) instead of minimising log(1 - D(G(z))): strong gradients early in training
    (Goodfellow et al. 2014, section 3)."""
    return F.softplus(-fake_logits).mean()
