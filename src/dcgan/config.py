"""Training configuration: one dataclass, validated, with presets as data.

Every field carries its help text and bounds in `metadata`, so the command line, the dashboard form and the
documentation are all generated from this one place.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import math
import numbers
import random
import types
import typing
from dataclasses import dataclass, field
from typing import Any

from dcgan import datasets, losses
from dcgan.datasets import DATASETS, native_format
from dcgan.errors import ConfigError, option_names

# 28 starts from a 7x7 map; every other size from 4x4 doubles up to the image.
IMAGE_SIZES = (16, 28, 32, 64, 128, 256)
AUGMENTATIONS = ("translation", "cutout", "color")  # DiffAugment's policies (Zhao et al. 2020)
DEVICES = ("auto", "cpu", "cuda", "mps")
# The length of a run given neither --epochs nor --steps, by the kind of device it trains on: minutes on a laptop
# CPU, longer where steps are cheap (docs/techniques.md, "The defaults", says which measurement chose each).
DEFAULT_EPOCHS = {"cpu": 5, "mps": 5, "cuda": 20}
# Minibatch discrimination's kernels unless chosen (Salimans et al. 2016 use 100): on in the defaults, since it
# lowered the defaults' FID at their length on every seed measured (docs/techniques.md, "The defaults").
MINIBATCH_KERNELS = 100
# The option groups most runs set, in the order forms show them first and open; the others (technique, speed,
# distributed, report) follow in field order, folded.
MAIN_GROUPS = ("data", "model", "optim", "length", "run")


def _penalised() -> list[str]:
    """The objectives whose gradient penalty is per sample (BatchNorm in D would couple the samples)."""
    return [name for name, o in losses.LOSSES.items() if o.gradient_penalty]


def _opt(default: Any, help: str, **meta: Any) -> Any:
    """A config field: default, help text and bounds (ge/gt/le/choices) kept together."""
    return field(default=default, metadata={"help": help, **meta})


@dataclass
class TrainConfig:
    # Data.
    dataset: str = _opt("fashion-mnist", datasets.help_text(), group="data")
    data_dir: str = _opt("./data", "where datasets live, in torchvision's layout; then the data home "
                         "($DCGAN_DATA_HOME, filled by `dcgan fetch`) and system copies are searched", group="data")
    image_size: int | None = _opt(None, "training resolution; default: the dataset's native size (28 for the "
                                  "MNIST family, 32 for CIFAR-10, 64 for CelebA and for a folder, whose images are "
                                  "resized and centre-cropped to it)", choices=IMAGE_SIZES, group="data")
    channels: int | None = _opt(None, "1 (grey) or 3 (RGB); default: the dataset's native channels (3 for a "
                                "folder)", choices=(1, 3), group="data")
    # Model: the DCGAN architecture (Radford et al. 2015, section 3). Widths, batch and learning rate are the
    # recipe measured best for 28x28 on a CPU, not the paper's (widths 64, batch 128, lr 2e-4: --preset paper):
    # docs/techniques.md, "The defaults", has the measurements that chose them.
    latent_dim: int = _opt(100, "size of the noise vector z", ge=1, le=4096, group="model")
    g_width: int = _opt(32, "generator width: channels of its last hidden layer (the paper: 64)", ge=1, le=1024,
                        group="model")
    d_width: int = _opt(32, "discriminator width: channels of its first layer (the paper: 64)", ge=1, le=1024,
                        group="model")
    # Optimisation: Adam with beta1 0.5 (Radford et al. 2015, section 4).
    batch_size: int = _opt(16, "images per step (the paper: 128)", ge=1, le=65536, group="optim")
    lr: float = _opt(1e-3, "Adam learning rate for G and D (the paper: 2e-4)", gt=0, le=1, group="optim")
    beta1: float = _opt(0.5, "Adam beta1 (0.5 stabilises GANs, the paper's section 4)", ge=0, lt=1, group="optim")
    beta2: float = _opt(0.999, "Adam beta2", ge=0, lt=1, group="optim")
    lr_g: float | None = _opt(None, "G's learning rate if it differs from --lr (TTUR, Heusel et al. 2017)",
                              gt=0, le=1, group="optim")
    lr_d: float | None = _opt(None, "D's learning rate if it differs from --lr (TTUR: e.g. 4e-4 for D, "
                              "1e-4 for G)", gt=0, le=1, group="optim")
    lr_schedule: str = _opt("constant", "learning-rate schedule over the run: constant, linear (decay to 0) "
                            "or cosine", choices=("constant", "linear", "cosine"), group="optim")
    # Objective and stabilisers (see docs/techniques.md for when to use each).
    loss: str = _opt("nonsaturating", losses.help_text(), choices=tuple(losses.LOSSES), group="technique")
    d_steps: int = _opt(1, "D (critic) updates per G update; WGAN-GP uses 5", ge=1, le=20, group="technique")
    gp_weight: float = _opt(10.0, f"gradient penalty weight lambda for {' and '.join(_penalised())} (Gulrajani 2017 "
                            "use 10)", ge=0, le=1000, group="technique")
    r1: float = _opt(0.0, "R1 penalty gamma on real data, 0 = off (Mescheder 2018; try 0.1-10)", ge=0,
                     le=1000, group="technique")
    d_norm: str = _opt("auto", "normalisation in D after its first layer: batch (the paper), instance, layer "
                       f"or none; auto = batch, or layer for {' and '.join(_penalised())} whose penalty is per "
                       "sample",
                       choices=("auto", "batch", "instance", "layer", "none"), group="technique")
    spectral_norm: bool = _opt(False, "spectral normalisation of D's weights (Miyato 2018)", group="technique")
    d_dropout: float = _opt(0.0, "dropout after each D activation, as the TensorFlow DCGAN tutorial (0.3)",
                            ge=0, lt=1, group="technique")
    minibatch_discrimination: int | None = _opt(None, "minibatch discrimination against mode collapse: kernels "
                                                "of a layer before D's output that compares each sample with the "
                                                "others of its batch, in groups of at most 16 (Salimans 2016, "
                                                "section 3.2), 0 = off; "
                                                f"default: {MINIBATCH_KERNELS} as they use, off for "
                                                f"{' and '.join(_penalised())} whose penalty is per sample",
                                                ge=0, le=1000, group="technique")
    feature_matching: bool = _opt(False, "G matches the mean of D's last hidden features on real images instead "
                                  "of fooling D: ||E f(x) - E f(G(z))||^2 (Salimans 2016, section 3.1)",
                                  group="technique")
    label_smoothing: float = _opt(0.0, "one-sided label smoothing: real targets 1 - s (Salimans 2016; 0.1)",
                                  ge=0, lt=0.5, group="technique")
    instance_noise: float = _opt(0.0, "std of Gaussian noise added to D's inputs, annealed linearly to 0 "
                                 "(Sonderby 2016; 0.1)", ge=0, le=2, group="technique")
    ema: float = _opt(0.0, "decay of an exponential moving average of G's weights used for samples, exports "
                      "and evaluation, 0 = off (Yazici 2019; 0.999)", ge=0, lt=1, group="technique")
    diffaugment: str = _opt("", "differentiable augmentation of D's inputs for small datasets: a comma list "
                            "of translation, cutout, color (Zhao 2020)", group="technique")
    conditional: bool = _opt(False, f"a class-conditional DCGAN (labelled datasets: "
                             f"{', '.join(datasets.labelled_names())}, class folders)", group="technique")
    d_conditioning: str = _opt("projection", "how labels enter a conditional D: projection (Miyato & Koyama "
                               "2018) or concat (label maps joined to the image, Mirza & Osindero 2014)",
                               choices=("projection", "concat"), group="technique")
    num_classes: int | None = _opt(None, "classes of a conditional run (set from the dataset)", ge=2, le=1000,
                                   group="technique")
    # Length: a total, so resuming with a larger value extends the run.
    epochs: int | None = _opt(None, "total epochs; default when --steps is not given: "
                              + ", ".join(f"{n} on {kind}" for kind, n in DEFAULT_EPOCHS.items()),
                              ge=1, le=100000, group="length")
    steps: int | None = _opt(None, "total steps (instead of --epochs)", ge=1, le=100000000, group="length")
    minutes: float = _opt(0.0, "a time budget: end after this many minutes of training in this session, with a "
                          "checkpoint (0 = no limit; pauses do not count; --resume continues the run)", ge=0,
                          le=1000000, group="length")
    # Reproducibility and hardware.
    seed: int | None = _opt(None, "random seed (default: drawn at random, kept in run.json); a seed repeats a run "
                            "number for number only on the same machine and versions with the same thread count: a "
                            "CPU run drops threads while other programs load the CPU (run.json records the counts), "
                            "so fix the count with OMP_NUM_THREADS=N (N=1 is steady on a busy machine)",
                            ge=0, le=2**31 - 1, group="run")
    device: str = _opt("auto", "auto picks CUDA, then Apple MPS, then CPU", choices=DEVICES, group="run")
    # Speed levers (docs/performance.md measures each).
    channels_last: bool = _opt(True, "NHWC memory layout: faster convolutions on CPUs (+15-30% measured) and "
                               "GPU tensor cores", group="speed")
    precision: str = _opt("auto", "fp32, or bf16 autocast (about 1.7x on CPUs with AVX512-BF16/AMX, more on "
                          "GPUs; weights stay fp32); auto = bf16 on CUDA GPUs that support it, else fp32",
                          choices=("auto", "fp32", "bf16"), group="speed")
    compile: bool = _opt(False, "torch.compile G and D (pays on GPUs for long runs; slower on the measured "
                         "CPU)", group="speed")
    cuda_graph: bool = _opt(True, "CUDA GPUs: capture the training step once in a CUDA graph and replay it (the "
                            "same losses and weights; 7-16x faster steps for the default networks on an H200, "
                            "2-4.6x for the paper's at 64x64); not with --ema, --instance-noise, --compile or "
                            "several processes", group="speed")
    # Several processes (torchrun + DistributedDataParallel): --batch-size is per process.
    world_size: int = _opt(1, "training processes, set by how training is launched: --nproc N, or torchrun; "
                           "given, it must match the launch (effective batch = batch_size x world_size)",
                           ge=1, le=4096, group="distributed")
    lr_scaling: str = _opt("none", "learning-rate scaling with the effective batch: none, linear (Goyal 2017) "
                           "or sqrt", choices=("none", "linear", "sqrt"), group="distributed")
    sync_batchnorm: bool = _opt(False, "BatchNorm statistics over all processes' batches (CUDA only)",
                                group="distributed")
    # Reporting.
    log_every: int = _opt(10, "steps per logged row of metrics (each value the mean of those steps)", ge=1, le=1000000,
                          group="report")
    # Snapshot cadence (dcgan.cadence): by steps and by epochs, each 0 = off; both rules apply.
    sample_every: int = _opt(200, "steps between fixed-noise sample grids, after early ones at those of steps 10, "
                             "25, 50, 100, 250, 500, ... below it (10 to 100 for 200); 0 = none by steps", ge=0,
                             le=100000000, group="report")
    sample_every_epochs: int = _opt(1, "epochs between sample grids at epoch ends, 0 = none by epochs", ge=0,
                                    le=100000, group="report")
    checkpoint_every: int = _opt(1000, "steps between checkpoints, 0 = none by steps (one is always written at "
                                 "the end)", ge=0, le=100000000, group="report")
    checkpoint_every_epochs: int = _opt(0, "epochs between checkpoints at epoch ends, 0 = none by epochs", ge=0,
                                        le=100000, group="report")
    keep_checkpoints: int = _opt(3, "how many step checkpoints to keep (older ones are deleted)", ge=1, le=1000,
                                 group="report")
    sample_count: int = _opt(64, "images in the fixed-noise grid", ge=1, le=256, group="report")
    eval_every: int = _opt(0, "steps between evaluations of sample quality (FID, KID, precision/recall, class "
                           "coverage: eval/* metrics and health warnings; see docs/evaluation.md), 0 = off", ge=0,
                           le=100000000, group="report")
    eval_samples: int = _opt(2000, "generated samples per evaluation during training (more: steadier numbers, "
                             "longer pauses)", ge=10, le=100000, group="report")
    eval_features: str = _opt("auto", "feature space of evaluations during training: auto (the domain "
                              "classifier for mnist/fashion-mnist, else Inception-v3), classifier or inception",
                              choices=("auto", "classifier", "inception"), group="report")
    tensorboard: bool = _opt(True, "write TensorBoard event files into the run", group="report")
    wandb: bool = _opt(False, "log to Weights & Biases (WANDB_MODE=offline works)", group="report")
    wandb_project: str = _opt("dcgan", "Weights & Biases project", group="report")

    def validate(self) -> "TrainConfig":
        """Check types and bounds of every field; raise one ConfigError that teaches."""
        for f in dataclasses.fields(self):
            check_field(f, getattr(self, f.name))
        if self.epochs is not None and self.steps is not None:
            raise ConfigError("give --epochs or --steps, not both (both are totals for the run)", field="steps")
        ds = self.dataset
        if not datasets.is_named(ds) and not datasets.is_folder(ds):
            raise datasets.unknown(ds)
        if datasets.is_folder(ds) and not datasets.folder_path(ds).strip():
            raise ConfigError("folder: needs a path, e.g. --dataset folder:~/pictures", field="dataset")
        objective = losses.LOSSES[self.loss]
        if self.label_smoothing and not objective.smoothable:
            smoothable = [name for name, o in losses.LOSSES.items() if o.smoothable]
            raise ConfigError(f"--label-smoothing has no meaning for --loss={self.loss} (it has no targets); "
                              f"use it with {', '.join(smoothable[:-1])} or {smoothable[-1]}", field="label_smoothing")
        if objective.gradient_penalty and self.d_norm == "batch":
            raise ConfigError(f"--loss={self.loss} penalises each sample's gradient, which BatchNorm couples across "
                              "the batch (Gulrajani et al. 2017, section 4); use --d-norm layer, instance or none",
                              field="d_norm")
        if objective.gradient_penalty and self.minibatch_discrimination:
            raise ConfigError(f"--loss={self.loss} penalises each sample's gradient, and minibatch discrimination "
                              "makes D's score of a sample depend on the rest of its batch (Gulrajani et al. 2017, "
                              "section 4); use --minibatch-discrimination 0 or another --loss",
                              field="minibatch_discrimination")
        unknown = set(self.augmentations()) - set(AUGMENTATIONS)
        if unknown:
            raise ConfigError(f"--diffaugment {sorted(unknown)[0]!r} is unknown: use a comma list of "
                              f"{', '.join(AUGMENTATIONS)}", field="diffaugment")
        if not self.conditional and (self.num_classes is not None or self.d_conditioning != "projection"):
            given = "--num-classes" if self.num_classes is not None else f"--d-conditioning {self.d_conditioning}"
            raise ConfigError(f"{given} is an option of a conditional run, and this one is not: add --conditional "
                              f"(a class-conditional DCGAN) or drop {given.split()[0]}",
                              field="num_classes" if self.num_classes is not None else "d_conditioning")
        if self.conditional and datasets.is_named(ds) and not DATASETS[ds].labelled:
            raise ConfigError(f"--conditional needs class labels and {ds} has none; use "
                              f"{', '.join(datasets.labelled_names())} or a folder of class folders",
                              field="conditional")
        return self

    def augmentations(self) -> list[str]:
        """The DiffAugment policy as a list, e.g. ['translation', 'cutout']."""
        return [a.strip() for a in self.diffaugment.split(",") if a.strip()]

    def images_per_step(self) -> int:
        """Training images one step consumes: d_steps batches on each of world_size processes."""
        return self.batch_size * self.d_steps * self.world_size

    def with_seed(self) -> "TrainConfig":
        """A validated copy whose seed is fixed (drawn now when none was chosen): the run's choices, as saved."""
        cfg = dataclasses.replace(self).validate()
        if cfg.seed is None:
            cfg.seed = random.SystemRandom().randrange(2**31)
        return cfg

    def resolved(self, device: str | None = None) -> "TrainConfig":
        """The values training uses: a validated copy with every value left to the defaults derived, from the
        other options and the kind of device it trains on ('cpu', 'cuda', 'mps'; default: where --device would
        train on this machine): the dataset's native size and channels, the default length, G's and D's
        learning rates from --lr, D's normalisation from the loss (and a seed, if none is fixed yet).

        These are derived, not chosen: a run saves its choices (config.json) and every reader derives the rest
        with this, so a fork that changes --lr changes both rates, and one that gives --steps drops the parent's
        default epochs."""
        cfg = self.with_seed()
        if device is None:
            from dcgan.device import device_kind

            device = device_kind(cfg.device)
        size, channels = native_format(cfg.dataset)
        if cfg.image_size is None:
            cfg.image_size = size
        if cfg.channels is None:
            cfg.channels = channels
        if cfg.epochs is None and cfg.steps is None:
            cfg.epochs = DEFAULT_EPOCHS.get(device, DEFAULT_EPOCHS["cpu"])
        cfg.lr_g = cfg.lr_g if cfg.lr_g is not None else cfg.lr
        cfg.lr_d = cfg.lr_d if cfg.lr_d is not None else cfg.lr
        if cfg.d_norm == "auto":
            cfg.d_norm = "layer" if losses.LOSSES[cfg.loss].gradient_penalty else "batch"
        if cfg.minibatch_discrimination is None:
            cfg.minibatch_discrimination = 0 if losses.LOSSES[cfg.loss].gradient_penalty else MINIBATCH_KERNELS
        return cfg

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "TrainConfig":
        """Build from JSON-like values (config.json, a request), rejecting unknown keys by name."""
        return cls(**values).validate()

    @classmethod
    def from_saved(cls, values: dict[str, Any]) -> "TrainConfig":
        """A run's saved options (config.json, a checkpoint's "config") as choices (see saved_choices)."""
        try:
            return cls.from_dict(saved_choices(values))
        except ConfigError as e:  # a value in a file, not a flag typed now: named as the file names it
            raise ConfigError(f"the run's saved config (its config.json or checkpoint) holds a value this version "
                              f"cannot use: {option_names(e.args[0])}", field=e.field) from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)


# A noise seed (samples, latent walks, evaluation, the server's seeds) is what torch.Generator.manual_seed takes
# whole, non-negative; a run's training seed (TrainConfig.seed) is a different, smaller thing.
MAX_NOISE_SEED = 2**63 - 1


def check_noise_seed(seed: Any, name: str = "the seed", field: str | None = None) -> int:
    """`seed` as an int when it is a noise seed (an integer from 0 to 2**63 - 1), else one ConfigError that names
    it as `name` (a flag such as --seed, or words)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed <= MAX_NOISE_SEED:
        raise ConfigError(f"{name} must be a seed from 0 to 2**63 - 1, got {seed!r}",
                          field=field or name.lstrip("-"))
    return int(seed)


# What other DCGAN code calls our options (the PyTorch tutorial's nz, ngf, ndf, nc; Keras' learning_rate; ...).
OTHER_NAMES = {"learning_rate": "lr", "noise_dim": "latent_dim", "z_dim": "latent_dim", "nz": "latent_dim",
               "ngf": "g_width", "ndf": "d_width", "nc": "channels", "num_epochs": "epochs", "n_epochs": "epochs",
               "img_size": "image_size", "beta_1": "beta1", "beta_2": "beta2", "manual_seed": "seed",
               "ema_decay": "ema"}


def unknown_option(name: str, where: str = "", others: tuple[str, ...] = ()) -> ConfigError:
    """The error for an option TrainConfig does not have, naming the one meant where it can tell."""
    options = [f.name for f in dataclasses.fields(TrainConfig)]
    near = [OTHER_NAMES[name]] if name in OTHER_NAMES else difflib.get_close_matches(name, [*options, *others], n=1,
                                                                                        cutoff=0.5)
    hint = f"did you mean {near[0]!r}?" if near else "`dcgan train --help` lists the options"
    return ConfigError(f"{where}unknown option {name!r}; {hint}", field=name)


def _refusing_unknown_options(init):
    """TrainConfig(learning_rate=...) is one ConfigError naming `lr`, not the dataclass's bare TypeError."""
    options = frozenset(f.name for f in dataclasses.fields(TrainConfig))

    @functools.wraps(init)
    def checked(self, *args: Any, **values: Any) -> None:
        for name in values:
            if name not in options:
                raise unknown_option(name)
        init(self, *args, **values)

    return checked


TrainConfig.__init__ = _refusing_unknown_options(TrainConfig.__init__)


def saved_choices(values: dict[str, Any]) -> dict[str, Any]:
    """A saved config's choices. Runs saved before derived values were kept apart hold G's and D's learning
    rates copied from --lr: equal to it, they read as following it (so a fork's new --lr moves them)."""
    values = dict(values)
    for name in ("lr_g", "lr_d"):
        if "lr" in values and values.get(name) == values["lr"]:
            values[name] = None
    return values


def field_type(f: dataclasses.Field) -> tuple[type, bool]:
    """(base type, optional) of a config field, from its annotation."""
    hint = _type_hints()[f.name]
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None)), True
    return hint, False


@functools.cache
def _type_hints() -> dict[str, Any]:
    """TrainConfig's annotations, evaluated once: evaluating them for every field of every validation made a
    validation take a fifth of a second."""
    return typing.get_type_hints(TrainConfig)


def check_field(f: dataclasses.Field, value: Any, label: str | None = None) -> None:
    """Type and bounds of one field's value; the error names it as `label` (default: its command-line flag)."""
    base, optional = field_type(f)
    meta = f.metadata
    flag = label or "--" + f.name.replace("_", "-")
    if value is None:
        if optional:
            return
        raise ConfigError(f"{flag} needs a value", field=f.name)
    if base is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    ok = isinstance(value, base) and not (base is not bool and isinstance(value, bool))
    if not ok:
        raise ConfigError(f"{flag} must be {base.__name__}, got {value!r}", field=f.name)
    if base is float and not math.isfinite(value):
        raise ConfigError(f"{flag} must be a finite number, got {value!r}", field=f.name)
    if "choices" in meta and value not in meta["choices"]:
        choices = ", ".join(str(c) for c in meta["choices"])
        offered = [str(c) for c in meta["choices"]]
        near = difflib.get_close_matches(value, offered, n=1) if isinstance(value, str) else []
        hint = f"; did you mean {near[0]!r}?" if near else ""
        raise ConfigError(f"{flag} must be one of {choices}, got {value!r}{hint}", field=f.name)
    bounds = (("ge", lambda a, b: a >= b, ">="), ("gt", lambda a, b: a > b, ">"),
              ("le", lambda a, b: a <= b, "<="), ("lt", lambda a, b: a < b, "<"))
    for key, test, word in bounds:
        if key in meta and not test(value, meta[key]):
            raise ConfigError(f"{flag} must be {word} {meta[key]}, got {value!r}", field=f.name)


# Presets are data: a name and the options it sets. Options given explicitly win over the preset.
PRESETS: dict[str, dict[str, Any]] = {
    "mnist": {"dataset": "mnist"},
    "fashion-mnist": {"dataset": "fashion-mnist"},
    "cifar10": {"dataset": "cifar10", "image_size": 32, "channels": 3},
    "celeba64": {"dataset": "celeba", "image_size": 64, "channels": 3},
    # The DCGAN paper's recipe (Radford et al. 2015, section 4): widths 64, batch 128, Adam lr 2e-4, beta1 0.5.
    "paper": {"g_width": 64, "d_width": 64, "batch_size": 128, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999,
              "minibatch_discrimination": 0},
    # The defaults for exactly five minutes of training (the time budget ends the run with a checkpoint).
    "cpu-fast": {"minutes": 5, "epochs": 100},
}


# A run's length, given as one of these: a level that gives one replaces both from the levels below it.
LENGTHS = ("steps", "epochs")


def layered(*levels: dict[str, Any]) -> dict[str, Any]:
    """Options from levels of precedence, lowest first (preset, config file, typed options): each level's values
    replace the ones below. A length given at a level (steps or epochs) replaces the length from every level
    below, so `--preset cpu-fast --steps 20` runs 20 steps instead of failing on the preset's epochs; one level
    that gives both is still refused by validation. A time budget (minutes) is separate and stays."""
    values: dict[str, Any] = {}
    for level in levels:
        if set(LENGTHS) & set(level):
            for name in LENGTHS:
                values.pop(name, None)
        values.update(level)
    return values


def apply_preset(name: str | None, *overrides: dict[str, Any]) -> TrainConfig:
    """A config from a preset plus levels of explicit options, lowest first (layered); an unknown preset is a
    ConfigError."""
    preset: dict[str, Any] = {}
    if name is not None:
        if name not in PRESETS:
            raise ConfigError(f"unknown preset {name!r}: choose one of {', '.join(PRESETS)}", field="preset")
        preset = PRESETS[name]
    return TrainConfig.from_dict(layered(preset, *overrides))


def schema() -> list[dict[str, Any]]:
    """The fields as data (name, type, default, help, bounds, group): for forms and docs."""
    rows = []
    for f in dataclasses.fields(TrainConfig):
        base, optional = field_type(f)
        row = {"name": f.name, "type": base.__name__, "optional": optional, "default": f.default}
        row.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in f.metadata.items()})
        rows.append(row)
    return rows


def fork_base(config: dict[str, Any], changes: list[dict[str, Any]], step: float) -> dict[str, Any]:
    """A run's chosen options in effect after `step`: its saved choices (config.json, a checkpoint's) plus the
    live changes made until then."""
    values = saved_choices(config)
    for change in changes:
        if change["step"] <= step:
            values[change["field"]] = change["new"]
    return values


def fork_config(parent: dict[str, Any], parent_changes: list[dict[str, Any]], step: float,
                changes: dict[str, Any]) -> TrainConfig:
    """A fork's choices: the parent's as they were at `step` (fork_base), then the fork's own changes. A length
    given replaces the parent's (--steps drops its --epochs and the other way round); options left to the
    defaults are derived again, so a new --lr moves both learning rates."""
    values = layered(fork_base(parent, parent_changes, step), changes)
    return TrainConfig.from_dict(values)
