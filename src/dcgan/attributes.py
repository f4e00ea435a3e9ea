"""Attribute directions in z: a linear fit of a classifier's verdict over sampled z, then a slide along it.

Radford et al. 2015 (section 6.3) found concepts to be roughly linear in z and reached them by averaging the z of
hand-picked samples. InterFaceGAN (Shen et al. 2020, section 2.2) fits a linear model of an attribute over many
sampled z instead and moves along its normal. Here the attribute is a class's log-odds under the domain
classifier that dcgan's evaluation ships (dcgan.metrics.classifier):

    a(z) = logit_c(G(z)) - logsumexp_{k != c} logit_k(G(z))      (log p_c / (1 - p_c))

fitted by ridge regression a(z) ~ <w, z> + b over `samples` draws of z; the direction is w / |w|. z ~ N(0, I), so
the projection of z on a unit vector is N(0, 1): a slide of `distance` moves a sample by that many standard
deviations of the attribute's axis, from where it starts (its own image) towards the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import torch

from dcgan.budget import GENERATE_IMAGES
from dcgan.errors import ConfigError
from dcgan.images import FIGURE_SIDE, Images, display_scale

if TYPE_CHECKING:  # dcgan.sampling's LoadedGenerator calls into this module, so it is only named here
    from dcgan.sampling import LoadedGenerator

Logits = Callable[[torch.Tensor], torch.Tensor]  # uint8 images (N, C, H, W) -> class logits (N, K)
MAX_SAMPLES = 50000
MAX_STEPS = 64
MAX_ROWS = 16
HELD_OUT = 0.2  # of the sampled z, kept out of the fit to measure how linear the attribute is


def class_logits(dataset: str, device: str | torch.device = "cpu") -> tuple[Logits, list[str]]:
    """(images -> logits, class names) from the domain classifier dcgan's evaluation ships for `dataset`."""
    from dcgan.metrics.features import classifier_features

    extractor = classifier_features(dataset, device=device)
    return (lambda images: extractor(images).logits), list(extractor.class_names)


def log_odds(logits: torch.Tensor, class_id: int) -> torch.Tensor:
    """log p_c / (1 - p_c) for each row of logits (N, K): the attribute a direction is fitted to."""
    others = torch.cat([logits[:, :class_id], logits[:, class_id + 1:]], dim=1)
    return logits[:, class_id] - torch.logsumexp(others, dim=1)


@dataclass
class Direction:
    """A unit vector in z along which a class's log-odds grows (fitted by `fit_direction`)."""

    vector: torch.Tensor  # (latent_dim,), unit norm
    class_id: int
    class_name: str
    slope: float  # log-odds gained per unit of distance along the vector (the fitted |w|)
    r2: float  # share of the log-odds' variance the linear fit explains on held-out z (1 = perfectly linear)
    samples: int


def fit_direction(g: LoadedGenerator, logits: Logits, class_id: int, class_name: str = "", samples: int = 2000,
                  seed: int = 0, ridge: float = 1.0, label: int | None = None) -> Direction:
    """Draw `samples` z from `seed`, score G(z) with `logits`, fit the class's log-odds linearly in z (ridge
    `ridge`, the held-out fifth measures R^2) and return the direction of steepest ascent."""
    if not isinstance(samples, int) or not 100 <= samples <= MAX_SAMPLES:
        raise ConfigError(f"samples must be from 100 to {MAX_SAMPLES}, got {samples!r}", field="samples")
    z = g.noise(samples, seed).double()  # (N, D)
    # In the batches a generation request is budgeted for (dcgan.budget), images and the classifier's features alike.
    scores = torch.cat([logits(g.generate(z[i:i + GENERATE_IMAGES].float(), label)).double()
                        for i in range(0, samples, GENERATE_IMAGES)])
    if scores.ndim != 2 or scores.shape[0] != samples or not 0 <= class_id < scores.shape[1]:
        raise ConfigError(f"class {class_id} is not one of the classifier's {scores.shape[-1]} classes",
                          field="class_id")
    a = log_odds(scores, class_id)  # (N,)
    fit = samples - int(samples * HELD_OUT)
    z_fit, a_fit = z[:fit], a[:fit]
    z_mean, a_mean = z_fit.mean(0), a_fit.mean()
    zc = z_fit - z_mean
    # Ridge regression: w = (Z^T Z + lambda I)^-1 Z^T (a - mean a), on centred z.
    w = torch.linalg.solve(zc.T @ zc + ridge * torch.eye(z.shape[1], dtype=z.dtype), zc.T @ (a_fit - a_mean))
    predicted = (z[fit:] - z_mean) @ w + a_mean
    residual, total = ((a[fit:] - predicted) ** 2).sum(), ((a[fit:] - a[fit:].mean()) ** 2).sum()
    r2 = float(1 - residual / total) if total > 0 else 0.0
    norm = w.norm()
    if not torch.isfinite(norm) or norm == 0:
        raise ConfigError(f"the classifier's view of class {class_name or class_id} does not change with z here; "
                          f"train the run longer or pick another class", field="class_id")
    return Direction((w / norm).float(), class_id, class_name, float(norm), r2, samples)


class AttributeSlide(Images):
    """Images along a direction (rows x steps), a strip in Jupyter and as PNG, one row per start seed; with the
    classifier's probability of the class at each image."""

    def __init__(self, frames: torch.Tensor, z: torch.Tensor, offsets: torch.Tensor, seeds: list[int],
                 direction: Direction, probabilities: torch.Tensor | None):
        steps = offsets.shape[0]
        super().__init__(frames, nrow=steps, scale=display_scale(frames.shape[-1], FIGURE_SIDE))
        self.z = z  # (rows * steps, latent_dim)
        self.offsets = offsets  # (steps,): the distance moved at each column
        self.seeds = seeds
        self.direction = direction
        self.probabilities = probabilities  # (rows, steps) p(class) per image, or None without a classifier


def slide(g: LoadedGenerator, direction: Direction, seeds: int | Sequence[int] = 0, steps: int = 10,
          distance: float = 3.0, logits: Logits | None = None, label: int | None = None) -> AttributeSlide:
    """From each seed's z, `steps` images moving `distance` along the direction (the first is the seed's own
    image); `logits`, when given, scores each image's probability of the direction's class."""
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    if not 1 <= len(seeds) <= MAX_ROWS:
        raise ConfigError(f"give 1 to {MAX_ROWS} start seeds, got {len(seeds)}", field="seeds")
    if not isinstance(steps, int) or not 2 <= steps <= MAX_STEPS:
        raise ConfigError(f"steps must be from 2 to {MAX_STEPS}, got {steps!r}", field="steps")
    if not (isinstance(distance, (int, float)) and 0 < distance <= 20):
        raise ConfigError(f"distance must be above 0 and at most 20 (standard deviations along the direction), "
                          f"got {distance!r}", field="distance")
    offsets = torch.linspace(0, float(distance), steps)
    starts = g.seed_latents(seeds)  # (rows, D)
    z = (starts[:, None, :] + offsets[None, :, None] * direction.vector[None, None, :]).reshape(-1, starts.shape[1])
    z[::steps] = starts  # each row starts at its seed's z bit for bit: the seed's own image
    frames = g.generate(z, label)
    probabilities = None
    if logits is not None:
        probabilities = torch.softmax(logits(frames).float(), dim=1)[:, direction.class_id].view(len(seeds), steps)
    return AttributeSlide(frames, z, offsets, seeds, direction, probabilities)


def attribute_slide(g: LoadedGenerator, toward: str | int, seeds: int | Sequence[int] = 0, steps: int = 10,
                    distance: float = 3.0, samples: int = 2000, fit_seed: int = 0,
                    label: int | None = None) -> AttributeSlide:
    """The whole recipe with the run's domain classifier: fit the direction of class `toward` (a number or a
    name such as "sneaker") over `samples` sampled z, then slide each seed along it."""
    from dcgan.latent import class_id

    logits, names = class_logits(g.config.dataset, g.device)
    k = class_id(toward, names)
    direction = fit_direction(g, logits, k, names[k], samples=samples, seed=fit_seed, label=label)
    return slide(g, direction, seeds, steps=steps, distance=distance, logits=logits, label=label)
