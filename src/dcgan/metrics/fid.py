"""Frechet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a
Local Nash Equilibrium", section 3): the Frechet (2-Wasserstein) distance between Gaussians fitted to the features
of real (r) and generated (g) images,

    FID = |mu_r - mu_g|^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2)).

0 means the two Gaussians are identical; lower is better. FID is biased upwards for small sample counts
(Binkowski et al. 2018, section 3), so only numbers computed on the same number of samples compare.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_statistics_to_metric


@dataclass
class Gaussian:
    """A Gaussian fitted to features: mean (D,) and covariance (D, D), float64, from `count` vectors."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int


class RunningGaussian:
    """Mean and covariance accumulated batch by batch in float64, so a reference set never has to sit in memory
    as one feature matrix."""

    def __init__(self, dim: int):
        self.count = 0
        self.sum = torch.zeros(dim, dtype=torch.float64)
        self.outer = torch.zeros(dim, dim, dtype=torch.float64)

    def update(self, features: torch.Tensor) -> "RunningGaussian":
        f = features.detach().to("cpu", torch.float64)  # (B, D)
        self.count += f.shape[0]
        self.sum += f.sum(0)
        self.outer += f.T @ f
        return self

    def result(self) -> Gaussian:
        n = self.count
        mu = self.sum / n
        sigma = (self.outer - n * torch.outer(mu, mu)) / (n - 1)  # the unbiased covariance, as np.cov
        return Gaussian(mu.numpy(), sigma.numpy(), n)


def fit_gaussian(features: torch.Tensor) -> Gaussian:
    return RunningGaussian(features.shape[1]).update(features).result()


def frechet_distance(a: Gaussian, b: Gaussian) -> float:
    """FID between two fitted Gaussians, by torch-fidelity's port of the TTUR reference code: the trace of
    (S_r S_g)^(1/2) is the sum of the square roots of the eigenvalues of S_r S_g."""
    return float(fid_statistics_to_metric({"mu": a.mu, "sigma": a.sigma}, {"mu": b.mu, "sigma": b.sigma},
                                          verbose=False)[KEY_METRIC_FID])
