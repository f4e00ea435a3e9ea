"""Walks and arithmetic in G's latent space (Radford et al. 2015, sections 6.1 and 6.3).

The maths works on z tensors. The functions that take a LoadedGenerator return result objects that hold uint8
images and give PNG, GIF and MP4 files as bytes, so the CLI, notebooks and a web route share one implementation.
A sample is named by its seed: seed s is the z that `g.sample(1, seed=s)` draws.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

from dcgan.checkpoint import atomic_write_bytes
from dcgan.config import check_noise_seed
from dcgan.errors import ConfigError
from dcgan.images import FIGURE_SIDE, Images, display_scale, gif_bytes, image_array, mp4_bytes, png_bytes

if TYPE_CHECKING:  # dcgan.sampling's LoadedGenerator calls into this module, so it is only named here
    from dcgan.sampling import LoadedGenerator

MAX_FRAMES = 10000  # frames in one path or walk, to bound memory and file sizes
MAX_VARIATIONS = 64


# --- Interpolation maths ------------------------------------------------------------------------------------

def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolation (1 - t) a + t b. a, b (D,), t (T,) -> (T, D)."""
    t = t.to(a.dtype)[:, None]
    return a[None] + t * (b - a)[None]


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical linear interpolation (White 2016, "Sampling Generative Networks", section 2.1):

        slerp(a, b; t) = sin((1 - t) theta) / sin(theta) * a + sin(t theta) / sin(theta) * b,
        cos(theta) = <a, b> / (|a| |b|).

    Why: in d dimensions a draw of N(0, I) lies near the sphere of radius sqrt(d), where G was trained, and two
    draws are nearly orthogonal, so the middle of the straight line between them has norm about sqrt(d / 2), a
    region G never saw. Slerp follows the great circle instead: between two vectors of equal norm every
    interpolant keeps that norm. a, b (D,), t (T,) -> (T, D).
    """
    a64, b64, t64 = a.double(), b.double(), t.double()[:, None]
    norms = a64.norm() * b64.norm()
    if norms == 0:
        return lerp(a, b, t)  # a zero vector has no direction to rotate from
    theta = torch.arccos((a64 @ b64 / norms).clamp(-1, 1))
    if torch.sin(theta) < 1e-6:
        return lerp(a, b, t)  # parallel or opposite: no unique great circle, and the formula divides by ~0
    out = (torch.sin((1 - t64) * theta) * a64 + torch.sin(t64 * theta) * b64) / torch.sin(theta)
    return out.to(a.dtype)


INTERPOLATORS: dict[str, Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "slerp": slerp, "lerp": lerp}


def check_mode(mode: str) -> None:
    if mode not in INTERPOLATORS:
        raise ConfigError(f"unknown interpolation mode {mode!r}: use slerp (along the sphere where N(0, I) "
                          f"puts its samples; White 2016) or lerp (a straight line)", field="mode")


def check_steps(steps: int) -> None:
    if not isinstance(steps, int) or not 2 <= steps <= MAX_FRAMES:
        raise ConfigError(f"steps must be an integer from 2 (the two ends) to {MAX_FRAMES}, got {steps!r}",
                          field="steps")


def output_dir(source: str | os.PathLike) -> Path:
    """Where the CLI writes latent-space figures by default: the run's latent/ folder. `source` is the file G
    was loaded from (RUN/checkpoints/step-N.pt or RUN/generator.safetensors)."""
    source = Path(source)
    run = source.parent.parent if source.parent.name == "checkpoints" else source.parent
    return run / "latent"


def class_tag(g: LoadedGenerator, label: int | None) -> str:
    """What a default file name of a conditional run's figure ends in, so that figures of two classes do not
    overwrite each other: -class7-Sneaker (-class7 where the class has no name); "" without a class."""
    if label is None:
        return ""
    word = re.sub(r"[^\w.]+", "-", class_word(g.classes[label])).strip("-")
    return f"-class{label}" + (f"-{word}" if word and word != str(label) else "")


def path(a: torch.Tensor, b: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """`steps` evenly spaced points from a to b, both ends included: (steps, D)."""
    check_mode(mode)
    check_steps(steps)
    z = INTERPOLATORS[mode](a, b, torch.linspace(0, 1, steps, dtype=torch.float64))
    # The ends are the seeds' own z, bit for bit, so they reproduce exactly the seeds' images.
    z[0], z[-1] = a, b
    return z


def loop(points: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """A closed walk p0 -> p1 -> ... -> p(K-1) -> p0 through points (K, D): K legs of `steps` points each with
    its last left out (it is the next leg's first), so an animation of it loops without a repeated frame.
    -> (K * (steps - 1), D)."""
    k = points.shape[0]
    if k < 2:
        raise ConfigError(f"a walk needs at least 2 points, got {k}", field="walk")
    return torch.cat([path(points[i], points[(i + 1) % k], steps, mode)[:-1] for i in range(k)])


def arithmetic_z(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
    """mean(A) - mean(B) + mean(C) for groups of z (n_i, D) -> (D,). Radford et al. 2015, section 6.3: single
    samples per concept gave unstable results, the average of three exemplars stable ones."""
    return a.mean(0) - b.mean(0) + c.mean(0)


# --- Interpolations as images -------------------------------------------------------------------------------

class Interpolation(Images):
    """The images along a path or a walk in z (N, C, H, W) uint8: a strip in Jupyter and as PNG (one row per
    path or leg), an animation as GIF or MP4. A path from A to B plays there and back; a walk is a loop."""

    def __init__(self, frames: torch.Tensor, z: torch.Tensor, nrow: int, seeds: list[int], mode: str,
                 closed: bool):
        super().__init__(frames, nrow, scale=display_scale(frames.shape[-1], FIGURE_SIDE))
        self.z = z  # (N, latent_dim): the point of each frame
        self.seeds = seeds
        self.mode = mode
        self.closed = closed

    def animation(self, scale: int | None = None) -> list[np.ndarray]:
        """The frames to play, (H*scale, W*scale[, 3]) uint8 each."""
        order = list(range(len(self)))
        if not self.closed:
            order += order[-2:0:-1]  # and back again, without showing either end twice
        scale = scale or display_scale(self.tensor.shape[-1])
        return [image_array(self.tensor[i], scale) for i in order]

    def gif_bytes(self, fps: float = 10, scale: int | None = None) -> bytes:
        return gif_bytes(self.animation(scale), fps)

    def mp4_bytes(self, fps: float = 10, scale: int | None = None) -> bytes:
        """H.264 MP4; needs the ffmpeg binary."""
        return mp4_bytes(self.animation(scale), fps)

    def save(self, path: str | os.PathLike, fps: float = 10, scale: int | None = None) -> Path:
        """Write by suffix: .gif or .mp4 animates, any image suffix (.png) writes the strip."""
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in (".gif", ".mp4"):
            return super().save(path)
        data = self.gif_bytes(fps, scale) if suffix == ".gif" else self.mp4_bytes(fps, scale)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
        return path


def interpolate(g: LoadedGenerator, from_seed: int, to_seed: int, steps: int = 10, mode: str = "slerp",
                label: int | None = None) -> Interpolation:
    """G along the path between two seeds' z (Radford et al. 2015, section 6.1: smooth transitions mean G has
    learned relevant representations rather than memorised images)."""
    ends = g.seed_latents([from_seed, to_seed])
    z = path(ends[0], ends[1], steps, mode)
    return Interpolation(g.generate(z, label), z, nrow=steps, seeds=[from_seed, to_seed], mode=mode,
                         closed=False)


def interpolate_classes(g: LoadedGenerator, seed: int, from_class: int | str, to_class: int | str,
                        steps: int = 10) -> Interpolation:
    """One seed's z drawn as the class embedding moves in a straight line from one class's to another's. A
    conditional G joins a learned embedding of the label to z (Mirza & Osindero 2014), so the points between two
    classes' embeddings are inputs too: the strip shows how G passes from one class to the other while z, the
    style, stays. The ends are exactly the two classes' images of that seed (lerp, not slerp: the embeddings are
    learned vectors, not draws of N(0, I))."""
    a, b = g.class_id(from_class), g.class_id(to_class)
    if a == b:
        raise ConfigError(f"both ends are class {a} ({class_word(g.classes[a])}): give two different classes to "
                          f"move between", field="to_class")
    check_steps(steps)
    z = g.seed_latents([seed]).repeat(steps, 1)  # (steps, latent_dim): the same z all along
    embeddings = g.class_embeddings()
    e = lerp(embeddings[a], embeddings[b], torch.linspace(0, 1, steps))  # (steps, EMBED_DIM)
    e[0], e[-1] = embeddings[a], embeddings[b]
    return Interpolation(g.generate_embedded(z, e), z, nrow=steps, seeds=[seed], mode="lerp", closed=False)


def walk(g: LoadedGenerator, points: int | Sequence[int] = 8, start: int = 0, steps: int = 10,
         mode: str = "slerp", label: int | None = None) -> Interpolation:
    """A closed loop through seeds start, start+1, ..., start+points-1 (or through a list of seeds)."""
    if isinstance(points, int):
        if points < 2:
            raise ConfigError(f"a walk needs at least 2 points, got {points}", field="walk")
        seeds = list(range(start, start + points))
    else:
        seeds = list(points)
    check_steps(steps)
    if len(seeds) * (steps - 1) > MAX_FRAMES:
        raise ConfigError(f"{len(seeds)} points x {steps - 1} frames per leg is more than {MAX_FRAMES} frames; "
                          f"use fewer points or steps", field="steps")
    z = loop(g.seed_latents(seeds), steps, mode)
    return Interpolation(g.generate(z, label), z, nrow=steps - 1, seeds=seeds, mode=mode, closed=True)


# --- Vector arithmetic --------------------------------------------------------------------------------------

class Arithmetic:
    """A - B + C on group means, drawn like the paper's figure 7 (Radford et al. 2015, section 6.3): each group's
    samples above the image of its mean z, then the result G(mean(A) - mean(B) + mean(C)) and, around it in a
    3x3 block, G of the result plus uniform noise (the paper's +-0.25)."""

    def __init__(self, groups: list[torch.Tensor], means: torch.Tensor, result: torch.Tensor,
                 variations: torch.Tensor, z: torch.Tensor, seeds: list[list[int] | None]):
        self.groups = groups  # three (n_i, C, H, W) uint8: the samples of A, B and C
        self.means = means  # (3, C, H, W): G(mean z) of each group
        self.result = result  # (C, H, W): G(mean(A) - mean(B) + mean(C))
        self.variations = variations  # (V, C, H, W): G(result z + noise)
        self.z = z  # (latent_dim,): the result's z
        self.seeds = seeds  # each group's seeds (None where z was given)

    def figure(self, scale: int | None = None) -> np.ndarray:
        """The figure as one (H, W) grey or (H, W, 3) uint8 array."""
        _, height, width = self.result.shape
        s = scale or display_scale(width, FIGURE_SIDE)
        pad = 2 * s
        cell_h, cell_w = height * s + pad, width * s + pad
        half = len(self.variations) // 2
        around = [*self.variations[:half], self.result, *self.variations[half:]]  # the result in the middle
        block_rows = math.ceil(len(around) / 3) if len(self.variations) else 0
        rows = max(max(len(g) for g in self.groups), block_rows)
        mean_y = pad + rows * cell_h + cell_h // 2  # a half-cell gap between the samples and the means
        canvas = np.zeros((mean_y + cell_h, pad + 9 * cell_w) + ((3,) if self.result.shape[0] == 3 else ()),
                          dtype=np.uint8)

        def put(image: torch.Tensor, y: int, x: int) -> None:
            array = image_array(image, s)
            canvas[y:y + array.shape[0], x:x + array.shape[1]] = array

        for col, (samples, mean) in enumerate(zip(self.groups, self.means)):
            x = pad + 2 * col * cell_w
            for row, image in enumerate(samples):
                put(image, pad + row * cell_h, x)
            put(mean, mean_y, x)
        rule_y = mean_y - cell_h // 4 - s // 2  # a grey rule between the samples and their means
        canvas[rule_y:rule_y + s, pad:pad + 5 * cell_w - pad] = 128
        for col, glyph in enumerate("-+="):
            _draw_operator(canvas, glyph, mean_y + (cell_h - pad) // 2, pad + (2 * col + 1) * cell_w + cell_w // 2,
                           cell_w // 3, max(1, height * s // 14))
        if block_rows:
            for i, image in enumerate(around):
                put(image, pad + (i // 3) * cell_h, pad + (6 + i % 3) * cell_w)
        put(self.result, mean_y, pad + 7 * cell_w)
        return canvas

    def png_bytes(self) -> bytes:
        return png_bytes(self.figure())

    def _repr_png_(self) -> bytes:
        return self.png_bytes()

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.png_bytes())
        return path


def _draw_operator(canvas: np.ndarray, glyph: str, cy: int, cx: int, half: int, thick: int) -> None:
    """Draw -, + or = in white centred at (cy, cx) with arms `half` long: no font needed."""
    def bar(y0: int, y1: int, x0: int, x1: int) -> None:
        canvas[max(y0, 0):y1, max(x0, 0):x1] = 255

    if glyph in "-+":
        bar(cy - thick, cy + thick, cx - half, cx + half)
    if glyph == "+":
        bar(cy - half, cy + half, cx - thick, cx + thick)
    if glyph == "=":
        bar(cy - 4 * thick, cy - 2 * thick, cx - half, cx + half)
        bar(cy + 2 * thick, cy + 4 * thick, cx - half, cx + half)


def _group_latents(g: LoadedGenerator, group: Sequence[int] | torch.Tensor, name: str) -> torch.Tensor:
    """A group as z (n, D): given directly, or the z of each of its seeds."""
    if isinstance(group, torch.Tensor):
        if group.ndim != 2 or group.shape[0] < 1 or group.shape[1] != g.config.latent_dim:
            raise ConfigError(f"group {name} must be seeds or z of shape (n, {g.config.latent_dim}), got "
                              f"{tuple(group.shape)}", field=name.lower())
        return group.float().cpu()
    if not len(group):
        raise ConfigError(f"group {name} is empty: give at least one seed (the paper averages three)",
                          field=name.lower())
    return g.seed_latents(list(group))


def arithmetic(g: LoadedGenerator, a: Sequence[int] | torch.Tensor, b: Sequence[int] | torch.Tensor,
               c: Sequence[int] | torch.Tensor, variations: int = 8, noise_scale: float = 0.25, seed: int = 0,
               label: int | None = None) -> Arithmetic:
    """G(mean(A) - mean(B) + mean(C)) for groups given as seeds (or as z (n, D)), with `variations` samples of
    the result plus U(-noise_scale, noise_scale) noise drawn from `seed`."""
    if not isinstance(variations, int) or not 0 <= variations <= MAX_VARIATIONS:
        raise ConfigError(f"variations must be from 0 to {MAX_VARIATIONS}, got {variations!r}", field="variations")
    if not (math.isfinite(noise_scale) and noise_scale >= 0):
        raise ConfigError(f"noise scale must be a finite number >= 0, got {noise_scale!r}", field="noise_scale")
    check_noise_seed(seed, "the noise seed", field="seed")
    groups = [_group_latents(g, group, name) for group, name in ((a, "A"), (b, "B"), (c, "C"))]
    y = arithmetic_z(*groups)
    means = torch.stack([z.mean(0) for z in groups])  # (3, D)
    noise = (torch.rand(variations, y.shape[0], generator=torch.Generator().manual_seed(seed)) * 2 - 1) * noise_scale
    # One batch for every image; G is in eval mode, so each image depends on its own z only.
    images = g.generate(torch.cat([*groups, means, y[None], y[None] + noise]), label)
    sizes = [len(z) for z in groups]
    samples = list(images[:sum(sizes)].split(sizes))
    rest = images[sum(sizes):]
    seeds = [None if isinstance(group, torch.Tensor) else [int(s) for s in group] for group in (a, b, c)]
    return Arithmetic(samples, rest[:3], rest[3], rest[4:], y, seeds)


def seeds_of_class(g: LoadedGenerator, classifier: Callable[[torch.Tensor], object], class_id: int,
                   count: int = 3, start: int = 0, limit: int = 10000, label: int | None = None) -> list[int]:
    """The first `count` seeds from `start` whose images `classifier` assigns to `class_id`, to pick arithmetic
    groups by predicted class. `classifier` is any callable from uint8 images (N, C, H, W) to class ids (N,)
    (a tensor, an array or a list), such as an evaluation classifier."""
    if count < 1 or limit < count:
        raise ConfigError(f"count must be at least 1 and at most limit ({limit}), got {count}", field="count")
    found: list[int] = []
    for lo in range(start, start + limit, 256):
        seeds = list(range(lo, min(lo + 256, start + limit)))
        ids = np.asarray(torch.as_tensor(classifier(g.generate(g.seed_latents(seeds), label))).cpu()).reshape(-1)
        if ids.shape != (len(seeds),):
            raise ConfigError(f"the classifier must return one class id per image: got {ids.shape[0]} for "
                              f"{len(seeds)} images")
        found += [s for s, i in zip(seeds, ids.tolist()) if i == class_id]
        if len(found) >= count:
            return found[:count]
    raise ConfigError(f"only {len(found)} of seeds {start}..{start + limit - 1} are classified as class {class_id}; "
                      f"raise the limit or pick another class", field="class_id")


def class_predictor(dataset: str, device: str | torch.device = "cpu"
                    ) -> tuple[Callable[[torch.Tensor], torch.Tensor], list[str]]:
    """(uint8 images (N, C, H, W) -> predicted class ids (N,), class names) from the domain classifier that
    dcgan's evaluation ships for grey 28x28 datasets (mnist, fashion-mnist)."""
    try:
        from dcgan.metrics.features import classifier_features
    except ImportError as e:  # the evaluation package is optional for latent arithmetic
        raise ConfigError(f"picking samples by predicted class needs dcgan's evaluation classifier, which is not "
                          f"available ({e}); give seeds instead") from e
    extractor = classifier_features(dataset, device=device)
    return (lambda images: extractor(images).logits.argmax(1)), list(extractor.class_names)


def class_word(name: str) -> str:
    """What people call a class: torchvision names MNIST's digits "7 - seven", which is "seven"."""
    number, dash, word = name.partition(" - ")
    return word if dash and number.isdigit() and word else name


def _spelling(name: str) -> str:
    """A class name as it is matched: lower case, letters and digits only ("Ankle boot", "ankle-boot" and
    "ankle_boot" are one spelling; so are "T-shirt" and "tshirt")."""
    return "".join(c for c in name.lower() if c.isalnum())


def class_id(spec: str | int, class_names: Sequence[str], field: str = "class_id") -> int:
    """A class given by number or by name -> its id. A name is matched ignoring case, spaces and punctuation
    (ankle-boot, "Ankle boot") and a plural's s (sneakers), and may be the word of MNIST's "7 - seven" or one of
    the alternatives of Fashion-MNIST's "T-shirt/top" (t-shirt, top); `field`: the option that gave it, for the
    error."""
    if isinstance(spec, int) or str(spec).strip().isdigit():
        k = int(spec)
        if 0 <= k < len(class_names):
            return k
    elif _spelling(str(spec)) and not str(spec).strip().lstrip("+-").isdigit():  # -1 is no name of class 1
        spelt = _spelling(str(spec))
        for wanted in (spelt, spelt[:-1]) if spelt.endswith("s") else (spelt,):  # sneakers: sneaker
            for k, name in enumerate(class_names):
                if wanted in (_spelling(name), _spelling(class_word(name))):
                    return k
            parts = [k for k, name in enumerate(class_names) if wanted in map(_spelling, name.split("/"))]
            if len(parts) == 1:
                return parts[0]
    shown = int(spec) if isinstance(spec, int) or str(spec).strip().isdigit() else repr(spec)  # 10, '10' alike
    raise ConfigError(f"unknown class {shown}: use a number or a name from {class_listing(class_names)}", field=field)


def class_listing(class_names: Sequence[str]) -> str:
    """The classes as an error lists them: 0=T-shirt/top, 1=Trouser, ..."""
    return ", ".join(f"{i}={class_word(n)}" for i, n in enumerate(class_names))


def predicted_class_seeds(g: LoadedGenerator, spec: str | int, count: int = 3, start: int = 0,
                          limit: int = 10000, label: int | None = None) -> list[int]:
    """The first `count` seeds from `start` whose images the run's domain classifier assigns to class `spec`
    (a number or a name such as "sneaker"): arithmetic groups by predicted class, `count` = 3 as the paper
    averages three exemplars (section 6.3)."""
    predict, names = class_predictor(g.config.dataset, g.device)
    return seeds_of_class(g, predict, class_id(spec, names), count=count, start=start, limit=limit, label=label)
