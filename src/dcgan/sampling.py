"""Generation from a trained G: the notebook-friendly handle (LoadedGenerator) and loading it from a run, a
checkpoint or an exported generator, and a run's fixed-noise grid (its noise, and the real images shown beside it).
The images it returns, grids and files are dcgan.images'.
"""

from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import torch

from dcgan.checkpoint import load_checkpoint, load_generator_file, resolve_checkpoint
from dcgan.config import TrainConfig, check_noise_seed
from dcgan.datasets import DATASETS, folder_root, is_folder
from dcgan.errors import CheckpointError, ConfigError, first_line
from dcgan.images import Images, grid_nrow, to_uint8
from dcgan.models import Generator, build_generator

if TYPE_CHECKING:
    from dcgan.data import ImageData


class LoadedGenerator:
    """A trained G ready to sample: `g = load_generator("runs/x"); g.sample(16, seed=0)`.

    Every image this package makes from a trained G goes through `generate`, so what G needs besides z (class
    labels for a conditional run) is handled here once. Interpolation and vector arithmetic live in
    dcgan.latent; the methods below are their notebook-friendly entry points.
    """

    def __init__(self, model: Generator, config: TrainConfig, step: int, source: str,
                 class_names: Sequence[str] = ()):
        self.model = model.eval()
        self.config = config
        self.step = step
        self.source = source
        self.class_names = list(class_names)  # a conditional G's, in label order, as its training recorded them

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def num_classes(self) -> int:
        """Classes of a conditional G; 0 for an unconditional one."""
        return self.model.num_classes

    def to(self, device: str | torch.device) -> "LoadedGenerator":
        self.model.to(device)
        return self

    def noise(self, count: int, seed: int | None = None) -> torch.Tensor:
        """z ~ N(0, I), (count, latent_dim), drawn on the CPU so a seed gives the same z on every device."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randn(count, self.config.latent_dim, generator=gen)

    def seed_latents(self, seeds: list[int]) -> torch.Tensor:
        """(len(seeds), latent_dim): the z of each seed, the one `sample(1, seed=s)` draws. Seeds are how the
        CLI, notebooks and the dashboard name a sample."""
        seeds = [check_noise_seed(s, field="seeds") for s in seeds]
        if not len(seeds):
            raise ConfigError("give at least one seed")
        return torch.cat([self.noise(1, s) for s in seeds])

    @property
    def classes(self) -> list[str]:
        """A conditional G's class names in label order: as its training recorded them, else (runs made before
        they were recorded) as its dataset names them now (a folder: as dcgan.data labels it), else the numbers;
        [] for an unconditional G."""
        if len(self.class_names) == self.num_classes:
            return list(self.class_names)
        dataset = self.config.dataset
        names = DATASETS[dataset].class_names if dataset in DATASETS else ()
        if is_folder(dataset):
            from dcgan.data import folder_classes  # torchvision and PIL: only for this fallback

            root = folder_root(dataset)
            names = folder_classes(root) if root.is_dir() else ()
        return list(names) if len(names) == self.num_classes else [str(k) for k in range(self.num_classes)]

    def class_id(self, label: int | str) -> int:
        """A class given by number or by name (7, "7", "sneaker", "Ankle boot") -> its label; a class this G
        does not have is one ConfigError that lists the ones it has."""
        from dcgan.latent import class_id, class_listing  # dcgan.latent builds on this module

        if not self.num_classes:
            raise ConfigError(f"{self.source} is an unconditional generator: it takes no class (--class / "
                              f"label=); train with --conditional to choose classes", field="label")
        if isinstance(label, bool) or not isinstance(label, (numbers.Integral, str)):
            raise ConfigError(f"a class is a number or a name, got {label!r}: use one of "
                              f"{class_listing(self.classes)}", field="label")
        return class_id(int(label) if isinstance(label, numbers.Integral) else label, self.classes, field="label")

    def _labels(self, count: int, labels: int | str | torch.Tensor | None) -> torch.Tensor | None:
        """Class labels (count,) for a conditional G, None for an unconditional one; an int or a name means one
        class for every image."""
        if not self.num_classes:
            if labels is not None:
                self.class_id(labels)  # the unconditional generator's error
            return None
        if labels is None:
            from dcgan.latent import class_listing

            raise ConfigError(f"{self.source} is a conditional generator ({self.num_classes} classes): give a "
                              f"class (--class K / label=K), a number or a name: {class_listing(self.classes)}",
                              field="label")
        if isinstance(labels, (numbers.Integral, str)) and not isinstance(labels, bool):
            return torch.full((count,), self.class_id(labels))
        if isinstance(labels, (list, tuple)):  # one class per image, by number or by name
            labels = [self.class_id(label) for label in labels]
        if not isinstance(labels, (torch.Tensor, np.ndarray, list, tuple)):
            self.class_id(labels)  # not a class: its error
        labels = torch.as_tensor(labels)
        if labels.shape != (count,) or labels.dtype.is_floating_point or labels.dtype == torch.bool:
            raise ConfigError(f"labels must be one class for all images or {count} integer labels, one per image; "
                              f"got {labels.dtype} of shape {tuple(labels.shape)}", field="label")
        labels = labels.long()
        outside = labels[(labels < 0) | (labels >= self.num_classes)]
        if len(outside):
            self.class_id(int(outside[0]))  # the first class this G does not have: its error
        return labels

    @torch.no_grad()
    def generate(self, z: torch.Tensor, labels: int | torch.Tensor | None = None) -> torch.Tensor:
        """G(z) as uint8 images (N, C, H, W), in batches of 256 to bound memory. A conditional G also takes
        classes: one for all (a number or a name), or one per image (a list of either, or an (N,) tensor)."""
        return self._in_batches(z, labels=self._labels(z.shape[0], labels))

    @torch.no_grad()
    def generate_embedded(self, z: torch.Tensor, embedding: torch.Tensor) -> torch.Tensor:
        """A conditional G's images (N, C, H, W) uint8 for points of its class-embedding space (N, EMBED_DIM)
        instead of labels: row k of `class_embeddings()` is class k's point."""
        return self._in_batches(z, embedding=embedding)

    def _in_batches(self, z: torch.Tensor, **inputs: torch.Tensor | None) -> torch.Tensor:
        """G(z, **inputs) as uint8, 256 images at a time to bound memory; `inputs`: G's other (N, ...) inputs."""
        out = []
        for i in range(0, z.shape[0], 256):
            given = {name: x[i:i + 256].to(self.device) for name, x in inputs.items() if x is not None}
            out.append(to_uint8(self.model(z[i:i + 256].to(self.device), **given)))
        return torch.cat(out)

    def class_embeddings(self) -> torch.Tensor:
        """(num_classes, EMBED_DIM): the learned embedding of each class that a conditional G joins to z."""
        if not self.num_classes:
            self.class_id(0)  # the unconditional generator's error
        return self.model.embed.weight.detach().float().cpu()

    def sample(self, count: int = 64, seed: int | None = None, label: int | str | None = None) -> Images:
        """`count` images from z drawn with `seed`. A conditional G draws class `label` (a number or a name such
        as "sneaker"), or without one the classes in turn (0, 1, ..., K-1, 0, ...), one column per class, so that
        a grid shows every class."""
        if not isinstance(count, int) or count < 1:
            raise ConfigError(f"count must be at least 1, got {count!r}", field="count")
        if label is None and self.num_classes:
            # A column per class, so that column k is class k all the way down.
            return Images(self.generate(self.noise(count, seed), torch.arange(count) % self.num_classes),
                          nrow=self.num_classes)
        return Images(self.generate(self.noise(count, seed), label))

    def by_class(self, per_class: int = 10, seed: int | None = None) -> Images:
        """A conditional G's class grid: one row per class, `per_class` columns, each row named on its left
        (7 Sneaker). Column j uses the same z in every row, so a column shows what the class label changes and
        a row what z changes."""
        if not self.num_classes:
            raise ConfigError(f"{self.source} is an unconditional generator, so it has no classes to lay out "
                              f"by row; train with --conditional", field="label")
        if not isinstance(per_class, int) or not 1 <= per_class <= 100:
            raise ConfigError(f"images per class must be from 1 to 100, got {per_class!r}", field="per_class")
        z = self.noise(per_class, seed).repeat(self.num_classes, 1)  # (K * per_class, D), row-major
        labels = torch.arange(self.num_classes).repeat_interleave(per_class)
        return Images(self.generate(z, labels), nrow=per_class, row_labels=class_rows(self.classes))

    def interpolate(self, from_seed: int, to_seed: int, steps: int = 10, mode: str = "slerp",
                    label: int | None = None):
        """The images on the path from seed `from_seed`'s z to `to_seed`'s (Radford et al. 2015, section 6.1):
        an Interpolation, shown as a strip in Jupyter, saved as .png, .gif or .mp4."""
        from dcgan.latent import interpolate  # dcgan.latent builds on this module

        return interpolate(self, from_seed, to_seed, steps=steps, mode=mode, label=label)

    def interpolate_classes(self, seed: int, from_class: int | str, to_class: int | str, steps: int = 10):
        """A conditional G's images for seed `seed`'s z while the class embedding moves from one class's to
        another's: an Interpolation, shown as a strip in Jupyter, saved as .png, .gif or .mp4."""
        from dcgan.latent import interpolate_classes

        return interpolate_classes(self, seed, from_class, to_class, steps=steps)

    def walk(self, points: int | list[int] = 8, start: int = 0, steps: int = 10, mode: str = "slerp",
             label: int | None = None):
        """A closed loop through several seeds' z: `points` seeds from `start` (or a list of seeds)."""
        from dcgan.latent import walk

        return walk(self, points, start=start, steps=steps, mode=mode, label=label)

    def arithmetic(self, a, b, c, variations: int = 8, noise_scale: float = 0.25, seed: int = 0,
                   label: int | None = None):
        """G(mean(A) - mean(B) + mean(C)) for groups of seeds (Radford et al. 2015, section 6.3)."""
        from dcgan.latent import arithmetic

        return arithmetic(self, a, b, c, variations=variations, noise_scale=noise_scale, seed=seed, label=label)

    def mix(self, rows: list[int], columns: list[int], block: int, label: int | None = None):
        """Style mixing: the grid of seeds `rows` (A, G's blocks before `block`) with the style of seeds `columns`
        (B, from `block` on); see dcgan.mixing."""
        from dcgan.mixing import style_mix

        return style_mix(self, rows, columns, block, label=label)

    def attribute(self, toward: str | int, seeds: int | list[int] = 0, steps: int = 10, distance: float = 3.0,
                  samples: int = 2000, fit_seed: int = 0, label: int | None = None):
        """Slide seeds along the direction in z that raises the domain classifier's belief in class `toward`
        (a number or a name); see dcgan.attributes."""
        from dcgan.attributes import attribute_slide

        return attribute_slide(self, toward, seeds, steps=steps, distance=distance, samples=samples,
                               fit_seed=fit_seed, label=label)


def load_generator(target: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedGenerator:
    """Load G from a run folder, a checkpoint file or an exported generator.safetensors."""
    path = resolve_checkpoint(target)
    if path.suffix == ".safetensors":
        state, config_dict, step, names = load_generator_file(path)
    else:
        try:
            ckpt = load_checkpoint(path)
        except CheckpointError:
            if path.exists() or Path(os.path.expanduser(str(target))).is_file():
                raise
            # The run's `last` named a checkpoint its training pruned meanwhile (--keep-checkpoints): `last` now
            # names the newer one.
            path = resolve_checkpoint(target)
            ckpt = load_checkpoint(path)
        missing = [key for key in ("G", "config", "step") if key not in ckpt]
        if missing:
            raise CheckpointError(f"{path} is a dcgan checkpoint without {' or '.join(missing)}, so G cannot be "
                                  f"made from it; use another checkpoint of the run or its generator.safetensors")
        # With --ema the moving average is the G that samples (as in the run's own grids and export).
        state, config_dict, step = ckpt.get("G_ema", ckpt["G"]), ckpt["config"], ckpt["step"]
        names = ckpt.get("class_names") if isinstance(ckpt.get("class_names"), list) else []
    config = TrainConfig.from_saved(config_dict).resolved("cpu")  # a checkpoint keeps the run's choices
    model = build_generator(config)
    wrong = misfit(model, state)
    if wrong:
        raise CheckpointError(f"{path}: the weights do not fit the generator its config describes ({wrong}); "
                              f"use a file written by dcgan train or dcgan export, unchanged")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:  # what misfit does not foresee
        raise CheckpointError(f"{path}: the weights do not fit the generator its config describes "
                              f"({first_line(e)}); use a file written by dcgan train or dcgan export, unchanged") from e
    return LoadedGenerator(model, config, step, str(path), names).to(device)


def misfit(model: torch.nn.Module, state: object, name: str = "G") -> str:
    """Why `state` cannot load into `model` (`name`: G or D), in a short clause (torch's own error lists every key,
    on many lines); "" when it fits."""
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        return f"{name}'s weights are not a table of tensors"
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f"{k} is {tuple(state[k].shape)}, not {tuple(v.shape)}" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    parts = ([f"{len(missing)} missing, such as {missing[0]}"] if missing else []) + (
        [f"{len(unexpected)} unexpected, such as {unexpected[0]}"] if unexpected else []) + shapes[:1]
    return "; ".join(parts)


# --- A run's fixed-noise grid ------------------------------------------------------------------------------

def class_rows(class_names: list[str]) -> list[str]:
    """The labels of a grid with a row per class, as --class takes them: "7 Sneaker", "7" where it has no name."""
    from dcgan.latent import class_word  # dcgan.latent builds on this module

    return [f"{k} {class_word(name)}" if class_word(name) != str(k) else str(k) for k, name in enumerate(class_names)]


def fixed_inputs(config: TrainConfig) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """(noise, labels, grid columns) of the fixed-noise grid, drawn on the CPU from the seed. A conditional run
    shows one row per class, the same noise in every row."""
    gen = torch.Generator().manual_seed(config.seed)
    if not config.conditional:
        return torch.randn(config.sample_count, config.latent_dim, generator=gen), None, grid_nrow(
            config.sample_count)
    classes = config.num_classes
    columns = max(1, min(8, 256 // classes))
    noise = torch.randn(columns, config.latent_dim, generator=gen).repeat(classes, 1)  # (classes*cols, latent)
    return noise, torch.arange(classes).repeat_interleave(columns), columns


def real_grid(config: TrainConfig, data: ImageData) -> tuple[torch.Tensor, int]:
    """(images (N, C, H, W) uint8, columns): real training images laid out as the fixed-noise grid is (the same
    count and columns; for a conditional run, each row of the same class), drawn from the seed."""
    gen = torch.Generator().manual_seed(config.seed)
    if not config.conditional:
        picks = torch.randperm(len(data), generator=gen)[:config.sample_count]
        return data.images[picks], grid_nrow(config.sample_count)
    _, labels, columns = fixed_inputs(config)
    picks = []
    for k in range(config.num_classes):
        of_class = (data.labels == k).nonzero().flatten()
        order = torch.randperm(len(of_class), generator=gen)
        picks.append(of_class[order[torch.arange(columns) % max(len(of_class), 1)]] if len(of_class) else
                     torch.zeros(columns, dtype=torch.long))
    return data.images[torch.cat(picks)], columns
