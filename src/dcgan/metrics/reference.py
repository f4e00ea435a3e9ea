"""Reference statistics of real images in a feature space: computed once per dataset, resolution and feature
extractor, and cached (safetensors, written atomically) under the dcgan cache folder.

What is kept, for N real images of the training split:
- the Gaussian (mean, covariance) of all N feature vectors, for FID;
- a pool of feature vectors in a fixed random order (all N for narrow features, 10,000 for Inception's 2048-d),
  whose first n serve as the real set for KID and precision/recall against n samples, and whose whole serves as
  the training images for nearest-neighbour (copy) search;
- the leave-one-out nearest-neighbour distances of 2,000 pool images (the copy baseline), their mean pairwise
  distance (the diversity baseline), the class histogram of the classifier's predictions and the real images'
  own Inception/classifier score.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from dcgan.checkpoint import read_safetensors, write_safetensors
from dcgan.data import ImageData
from dcgan.errors import CheckpointError
from dcgan.metrics.features import FeatureExtractor, user_cache
from dcgan.metrics.fid import Gaussian, RunningGaussian
from dcgan.metrics.inception_score import inception_score
from dcgan.metrics.memorization import leave_one_out
from dcgan.metrics.modes import mean_pairwise_distance

FORMAT = "dcgan-reference"
FORMAT_VERSION = 1
WIDE = 256  # feature widths above this keep a pool of POOL_LIMIT vectors instead of all
POOL_LIMIT = 10000
BASELINE_COUNT = 2000  # pool images whose leave-one-out neighbour distance is the copy baseline
SCORE_COUNT = 10000  # real images the real Inception/classifier score is computed on (as for 10k samples)
CHUNK = 2000  # real images per feature batch


@dataclass
class Reference:
    key: str
    count: int  # real images in the Gaussian
    gaussian: Gaussian
    pool: torch.Tensor  # (R, D) float32 features, in a fixed random order
    pool_indices: torch.Tensor  # (R,) their positions in the dataset
    baseline_nn: torch.Tensor  # (min(R, 2000),) leave-one-out nearest-neighbour distances
    mean_distance: float  # mean pairwise distance among the first 2000 pool vectors
    class_histogram: torch.Tensor | None  # (K,) share of real images predicted as each class
    score: tuple[float, float] | None  # the real images' Inception (or classifier) score, mean and std


def reference_dir() -> Path:
    return user_cache() / "reference"


def reference_key(dataset: str, data: ImageData, extractor: FeatureExtractor, max_images: int | None) -> str:
    """dataset, format, extractor (with its weights' hash), the pixels' fingerprint and the image count."""
    _, channels, size, _ = data.images.shape
    slug = re.sub(r"[^A-Za-z0-9_.-]+", "-", dataset).strip("-.")[-40:] or "data"
    count = min(len(data), max_images) if max_images else len(data)
    return f"{slug}-{size}px-{channels}c-{extractor.id}-{data.fingerprint()}-n{count}"


def compute_reference(images: torch.Tensor, extractor: FeatureExtractor, key: str, seed: int = 0,
                      progress: Callable[[str], None] | None = None) -> Reference:
    """Feature statistics of uint8 images (N, C, H, W), streamed in chunks."""
    n = images.shape[0]
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=gen)
    pool_size = n if extractor.dim <= WIDE else min(n, POOL_LIMIT)
    slot = torch.full((n,), -1, dtype=torch.long)  # dataset position -> place in the pool, or -1
    slot[order[:pool_size]] = torch.arange(pool_size)
    pool = torch.zeros(pool_size, extractor.dim)
    pool_logits: torch.Tensor | None = None
    gaussian = RunningGaussian(extractor.dim)
    counts = None
    for start in range(0, n, CHUNK):
        out = extractor(images[start:start + CHUNK])
        gaussian.update(out.features)
        where = slot[start:start + out.features.shape[0]]
        keep = where >= 0
        pool[where[keep]] = out.features[keep]
        if out.logits is not None:
            if pool_logits is None:
                pool_logits = torch.zeros(pool_size, out.logits.shape[1])
            pool_logits[where[keep]] = out.logits[keep]
            if extractor.class_names:
                part = torch.bincount(out.logits.argmax(1), minlength=len(extractor.class_names)).double()
                counts = part if counts is None else counts + part
        done = min(start + CHUNK, n)
        if progress and (done == n or done % (10 * CHUNK) == 0):
            progress(f"reference features: {done}/{n} real images")
    return Reference(
        key=key, count=n, gaussian=gaussian.result(), pool=pool, pool_indices=order[:pool_size].clone(),
        baseline_nn=leave_one_out(pool, min(pool_size, BASELINE_COUNT)), mean_distance=mean_pairwise_distance(pool),
        class_histogram=counts / counts.sum() if counts is not None else None,
        score=inception_score(pool_logits[:SCORE_COUNT], seed) if pool_logits is not None else None)


def save_reference(ref: Reference, path: Path) -> None:
    tensors = {"mu": torch.from_numpy(ref.gaussian.mu), "sigma": torch.from_numpy(ref.gaussian.sigma),
               "pool": ref.pool.contiguous(), "pool_indices": ref.pool_indices.contiguous(),
               "baseline_nn": ref.baseline_nn.contiguous()}
    if ref.class_histogram is not None:
        tensors["class_histogram"] = ref.class_histogram.contiguous()
    write_safetensors(path, tensors, FORMAT, FORMAT_VERSION, key=ref.key, count=str(ref.count),
                      mean_distance=repr(ref.mean_distance), score=json.dumps(ref.score))


def load_reference_file(path: Path) -> Reference | None:
    """A cached reference, or None when it is missing, damaged or of another format version."""
    try:
        found = read_safetensors(path, FORMAT)
        if found is None or found[1].get("format_version") != str(FORMAT_VERSION):
            return None
        t, meta = found
        score = json.loads(meta["score"])
        return Reference(key=meta["key"], count=int(meta["count"]),
                         gaussian=Gaussian(t["mu"].numpy(), t["sigma"].numpy(), int(meta["count"])),
                         pool=t["pool"], pool_indices=t["pool_indices"], baseline_nn=t["baseline_nn"],
                         mean_distance=float(meta["mean_distance"]), class_histogram=t.get("class_histogram"),
                         score=tuple(score) if score is not None else None)
    except (CheckpointError, KeyError, ValueError):
        return None


def reference_statistics(dataset: str, data: ImageData, extractor: FeatureExtractor, *,
                         max_images: int | None = None,
                         progress: Callable[[str], None] | None = None) -> Reference:
    """The real data's reference in the extractor's space, from the cache when it holds it. `max_images` limits
    the real images (a fixed random subset): Inception-v3 on a CPU takes tens of minutes per 10,000."""
    key = reference_key(dataset, data, extractor, max_images)
    path = reference_dir() / f"{key}.safetensors"
    found = load_reference_file(path)
    if found is not None:
        return found
    images, subset = data.images, None
    if max_images and max_images < len(data):
        subset = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))[:max_images]
        images = images[subset]
    ref = compute_reference(images, extractor, key, progress=progress)
    if subset is not None:  # pool positions in the subset -> positions in the dataset
        ref.pool_indices = subset[ref.pool_indices]
    try:
        save_reference(ref, path)
    except OSError:
        pass  # a read-only cache only costs the computation next time
    return ref
