"""What a config costs, estimated before anything is built, and the limits a server holds it to.

Memory, in bytes, for one training process (Adam on fp32 weights; bf16 autocast only lowers it):
  parameters  4 B x (G + D, + G again with --ema)
  training    Adam's two moments and the gradients: 3 x 4 B per trained parameter
  activations 4 B x batch x (G's + 2 x D's layer outputs per image: D sees a real and a fake batch) x 2 (kept for
              the backward pass, and their gradients), twice D's share again with a gradient penalty (wgan-gp,
              R1: a double backward), plus the d_steps real batches in float
  dataset     the whole dataset in memory as uint8 (dcgan.data decodes it once), twice while it is formatted
Several processes each hold all of it (each loads the data and both networks). Resuming or forking also reads
the checkpoint into memory, and generation needs G and a batch of images.

Disk, in bytes, for one run folder (a server refuses a training its disk has no room for):
  checkpoints keep_checkpoints + 1 (the newest is written before the oldest goes) x (weights and Adam's two
              moments, 3 x 4 B per trained parameter, + G's moving average, + 256 KiB for the rest), and
              generator.safetensors
  grids       each fixed-noise grid as raw pixels, twice (its PNG and its frame of progress.gif; PNG only shrinks it)
  metrics     one row of metrics.jsonl (at most 512 B) per logged step

Layer shapes and parameter counts come from the real models built on PyTorch's meta device, which records
shapes without allocating memory: a config of billions of parameters is measured in milliseconds, and the
estimate follows models.py wherever it goes.
"""

from __future__ import annotations

import functools
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from dcgan.config import TrainConfig
from dcgan.datasets import DATASETS, folder_root, is_folder
from dcgan.errors import ConfigError
from dcgan.losses import LOSSES

FLOAT = 4  # bytes of an fp32 value
BUDGET_SHARE = 0.5  # a server's default budget: half of this machine's memory
GENERATE_IMAGES = 256  # the most images one generation request draws (the API's bound on count)


@dataclass(frozen=True)
class Profile:
    """The two networks of a config, measured on the meta device (per image for activations)."""

    g_params: int
    d_params: int
    g_activations: int  # values of all G's layer outputs for one image
    d_activations: int
    g_peak: int  # the largest two consecutive layer outputs of G for one image (inference keeps about that)


@dataclass
class Cost:
    """Estimated bytes of a piece of work, by part; `total` is what the budget is compared with."""

    config: TrainConfig
    model: int = 0  # weights, gradients and Adam state
    activations: int = 0
    dataset: int = 0
    loading: int = 0  # a checkpoint or generator file read into memory
    processes: int = 1
    dataset_images: int = 0

    @property
    def total(self) -> int:
        return self.processes * (self.model + self.activations + self.dataset) + self.loading

    def parts(self) -> str:
        cfg = self.config
        words = [f"networks {gib(self.model)} (g_width {cfg.g_width}, d_width {cfg.d_width}, latent_dim "
                 f"{cfg.latent_dim})"]
        if self.activations:
            words.append(f"activations {gib(self.activations)} (batch_size {cfg.batch_size} of "
                         f"{cfg.channels}x{cfg.image_size}x{cfg.image_size})")
        if self.dataset:
            words.append(f"dataset {gib(self.dataset)} ({self.dataset_images} images at {cfg.image_size}x"
                         f"{cfg.image_size})")
        if self.loading:
            words.append(f"the file read {gib(self.loading)}")
        if self.processes > 1:
            words.append(f"x {self.processes} processes")
        return ", ".join(words)

    def option_to_lower(self, budget: int) -> str:
        """The config option whose lowering helps most: the process count when one process would fit, the
        widths when the networks alone do not fit, else the batch size or the image size, by the larger part."""
        one = self.model + self.activations + self.dataset + self.loading
        if self.processes > 1 and one <= budget:
            return "nproc"
        if self.model + self.loading >= budget:
            profile = model_profile(self.config)
            return "g_width" if profile.g_params >= profile.d_params else "d_width"
        return "batch_size" if self.activations >= self.dataset else "image_size"


def gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"


# --- Measuring ------------------------------------------------------------------------------------------------

def _architecture_key(cfg: TrainConfig) -> tuple:
    return (cfg.image_size, cfg.channels, cfg.latent_dim, cfg.g_width, cfg.d_width, cfg.d_norm, cfg.spectral_norm,
            cfg.conditional, cfg.num_classes or 10, cfg.d_conditioning, cfg.minibatch_discrimination)


def model_profile(config: TrainConfig) -> Profile:
    """Parameters and per-image activations of a resolved config's G and D, without allocating them."""
    return _profile(_architecture_key(config))


@functools.lru_cache(maxsize=64)
def _profile(key: tuple) -> Profile:
    import torch

    from dcgan.models import build_discriminator, build_generator

    size, channels, latent, g_width, d_width, d_norm, spectral, conditional, classes, conditioning, kernels = key
    cfg = TrainConfig(image_size=size, channels=channels, latent_dim=latent, g_width=g_width, d_width=d_width,
                      d_norm=d_norm, spectral_norm=spectral, conditional=conditional, num_classes=classes,
                      d_conditioning=conditioning, minibatch_discrimination=kernels)
    with torch.device("meta"):
        G, D = build_generator(cfg), build_discriminator(cfg)
        labels = torch.zeros(1, dtype=torch.long) if conditional else None
        g_outputs = _leaf_outputs(G, torch.zeros(1, latent), labels)
        d_outputs = _leaf_outputs(D, torch.zeros(1, channels, size, size), labels)
    g_peak = max((a + b for a, b in zip(g_outputs, g_outputs[1:])), default=sum(g_outputs))
    return Profile(sum(p.numel() for p in G.parameters()), sum(p.numel() for p in D.parameters()),
                   sum(g_outputs), sum(d_outputs), g_peak)


def _leaf_outputs(model, x, labels) -> list[int]:
    """The number of values each leaf module outputs for one input, in forward order."""
    import torch

    sizes: list[int] = []
    hooks = [m.register_forward_hook(lambda _m, _i, out: sizes.append(out.numel()))
             for m in model.modules() if next(m.children(), None) is None]
    try:
        with torch.no_grad():
            model.eval()(x, labels)
    finally:
        for h in hooks:
            h.remove()
    return sizes


def warm_up() -> None:
    """Load PyTorch's meta kernels (about a second, once per process) so the first real estimate is quick."""
    model_profile(TrainConfig().resolved())


def dataset_images(config: TrainConfig) -> int:
    """Images the config's dataset holds: known for the named ones, counted (not read) for a folder."""
    if is_folder(config.dataset):
        from torchvision.datasets.folder import IMG_EXTENSIONS  # what dcgan.data reads from a folder

        walk = os.walk(folder_root(config.dataset))
        return sum(1 for _, _, files in walk for f in files if f.lower().endswith(IMG_EXTENSIONS))
    kind = DATASETS.get(config.dataset)
    return kind.train_images if kind is not None else 0


def training_cost(config: TrainConfig, processes: int = 1, loading_bytes: int = 0,
                  images: int | None = None) -> Cost:
    """What training a resolved config takes on `processes` processes (plus a checkpoint read to resume)."""
    p = model_profile(config)
    trained = p.g_params + p.d_params
    model = FLOAT * (4 * trained + (p.g_params if config.ema else 0))
    d_factor = 4 if LOSSES[config.loss].gradient_penalty or config.r1 else 2
    pixels = config.channels * config.image_size ** 2
    activations = FLOAT * config.batch_size * (2 * p.g_activations + d_factor * p.d_activations
                                               + config.d_steps * pixels)
    images = dataset_images(config) if images is None else images
    return Cost(config, model=model, activations=activations, dataset=2 * images * pixels, loading=loading_bytes,
                processes=processes, dataset_images=images)


METRICS_ROW = 512  # bytes of one logged step in metrics.jsonl, generously (about 300 with every metric)
CHECKPOINT_EXTRA = 256 * 2**10  # a checkpoint beyond its parameters: config, random states, BatchNorm statistics


def planned_steps(config: TrainConfig, images: int | None = None) -> int:
    """The steps a resolved config trains: its steps, or its epochs of the dataset's images."""
    if config.steps is not None:
        return config.steps
    per_step = config.images_per_step()
    return (config.epochs or 1) * max((dataset_images(config) if images is None else images) // per_step, 1)


def disk_cost(config: TrainConfig, steps: int, single_steps: int = 0) -> dict[str, int]:
    """What a run of `steps` steps writes into its folder at most, by part (the module's docstring says how);
    `single_steps` taken from the dashboard write a grid and a metrics row each besides."""
    from dcgan.cadence import early_sample_steps

    p = model_profile(config)
    checkpoint = FLOAT * (3 * (p.g_params + p.d_params) + (p.g_params if config.ema else 0)) + CHECKPOINT_EXTRA
    grids = 1 + single_steps + (steps // config.sample_every + len(early_sample_steps(config.sample_every))
                 if config.sample_every > 0 else 0)
    if config.sample_every_epochs > 0 and config.epochs:
        grids += config.epochs // config.sample_every_epochs
    return {"checkpoints": (config.keep_checkpoints + 1) * checkpoint + FLOAT * p.g_params,
            "grids": 2 * grids * config.sample_count * config.channels * config.image_size ** 2,
            "metrics": (steps // config.log_every + 1 + single_steps) * METRICS_ROW}


def check_disk(parts: dict[str, int], limit: int, limit_text: str) -> None:
    """A ConfigError when a run would write more than `limit` bytes (`limit_text` says what the limit is), naming
    the option of its largest part."""
    total = sum(parts.values())
    if total <= limit:
        return
    option = {"checkpoints": "keep_checkpoints", "grids": "sample_every", "metrics": "log_every"}[
        max(parts, key=parts.get)]
    advice = {"keep_checkpoints": "lower keep_checkpoints (or the widths)", "sample_every": "raise sample_every "
              "(or lower sample_count)", "log_every": "raise log_every"}[option]
    shares = ", ".join(f"{part} {gib(size)}" for part, size in parts.items())
    raise ConfigError(f"this run would write up to {gib(total)} ({shares}), more than {limit_text}; {advice}, or "
                      f"train fewer steps", field=option)


def free_disk(folder: str | os.PathLike) -> int:
    """Bytes free on the disk that holds `folder` (or would hold it: its nearest existing parent)."""
    path = Path(folder).resolve()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def model_cost(config: TrainConfig) -> Cost:
    """The least any training of these networks takes: weights, gradients and Adam state (what an architecture
    preview is held to)."""
    p = model_profile(config)
    return Cost(config, model=FLOAT * 4 * (p.g_params + p.d_params))


def generator_cost(config: TrainConfig, file_bytes: int, images: int = GENERATE_IMAGES) -> Cost:
    """Loading G from a file of `file_bytes` and drawing `images` images with it."""
    p = model_profile(config)
    return Cost(config, model=FLOAT * p.g_params, activations=FLOAT * images * p.g_peak, loading=file_bytes)


# --- Limits ---------------------------------------------------------------------------------------------------

def machine_memory() -> int:
    """This machine's physical memory in bytes (0 where it cannot be read)."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 0


def default_budget() -> int:
    return int(machine_memory() * BUDGET_SHARE) or 8 * 2**30


def check(cost: Cost, budget: int, setting: str = "dcgan serve --memory-budget", advice: str | None = None) -> Cost:
    """A ConfigError when the estimate is above the budget, naming the option to lower (or giving `advice`)."""
    if cost.total > budget:
        option = None if advice else cost.option_to_lower(budget)
        raise ConfigError(f"this would need about {gib(cost.total)} of memory ({cost.parts()}), more than the "
                          f"budget of {gib(budget)} ({setting}); {advice or f'lower {option}'}", field=option)
    return cost


def machine_processes(device: str = "auto") -> int:
    """Training processes this machine has room for: one per GPU when training on CUDA, else one per CPU core
    this process may use."""
    import torch

    if device.split(":")[0] in ("auto", "cuda") and torch.cuda.is_available():
        return torch.cuda.device_count()
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def check_processes(processes: int, limit: int, option: str = "nproc", force: str = "--force-nproc") -> None:
    """A ConfigError when more processes are asked for than the limit (the machine's, unless forced)."""
    if processes > limit:
        raise ConfigError(f"{option} {processes} is more training processes than the {limit} this machine has "
                          f"room for (one per CPU core, or per GPU on CUDA); lower {option}, or raise the limit "
                          f"with {force}", field=option)
