"""Nearest training neighbours of generated samples, to flag copying (memorization).

A generator that makes new images puts its samples about as far from their nearest training image as real
images are from their nearest *other* training image; one that copies puts them much closer (the idea of
Meehan et al. 2020, "A Non-Parametric Test to Detect Data-Copying in Generative Models", here as two summary
numbers in feature space):
- nn_ratio: median distance of a sample to its nearest training image over the median leave-one-out distance of
  real training images to theirs; about 1 for new images, well below 1 for copies;
- copies: the share of samples closer to a training image than 99% of real training images are to theirs; about
  1% by chance, far more when G copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

COPY_QUANTILE = 0.01
CHUNK = 512  # query rows per distance block: (512, pool) floats


def nearest(query: torch.Tensor, pool: torch.Tensor, exclude_self: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(distance, index) of each query vector's nearest pool vector, by blocks of query rows (torch.cdist, one
    matrix product per block). With exclude_self, query i is pool i and is not its own neighbour."""
    pool = pool.float()
    dists, index = [], []
    for start in range(0, query.shape[0], CHUNK):
        d = torch.cdist(query[start:start + CHUNK].float(), pool)  # (B, P)
        if exclude_self:
            rows = torch.arange(d.shape[0])
            d[rows, rows + start] = float("inf")
        best, where = d.min(1)
        dists.append(best)
        index.append(where)
    return torch.cat(dists), torch.cat(index)


def leave_one_out(pool: torch.Tensor, count: int) -> torch.Tensor:
    """Distances of the first `count` pool vectors to their nearest other pool vector: the real baseline."""
    return nearest(pool[:count], pool, exclude_self=True)[0]


@dataclass
class Memorization:
    nn_ratio: float
    copies: float
    closest: list[dict[str, float | int]]  # the most copy-like samples: sample index, pool index, ratio


def memorization(fake: torch.Tensor, pool: torch.Tensor, baseline: torch.Tensor, top: int = 8) -> Memorization:
    dist, index = nearest(fake, pool)
    typical = baseline.median().clamp_min(1e-12)
    threshold = torch.quantile(baseline, COPY_QUANTILE)
    order = dist.argsort()[:top]
    closest = [{"sample": int(i), "pool_index": int(index[i]), "ratio": round(float(dist[i] / typical), 4)}
               for i in order]
    return Memorization(float(dist.median() / typical), float((dist < threshold).float().mean()), closest)
