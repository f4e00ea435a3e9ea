"""The discriminator's features as a representation (Radford et al. 2015, section 5.1).

The paper trains a DCGAN without labels, then uses D's convolutional features from all layers, max-pools each
layer's activation to a 4x4 grid, flattens and concatenates them, and fits a regularised linear L2-SVM on top
with few labels. Here the same probe is fitted three times on the same labelled images, so the numbers say what
the adversarial training bought:
  - the trained D;
  - the D this run started from: the same architecture initialised from the run's seed (bit for bit the D that
    training began with, since the trainer seeds torch, then builds G, then D);
  - the raw pixels.
Each feature is standardised on the labelled images, then a linear classifier with an L2 penalty is fitted.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from dcgan.checkpoint import load_checkpoint, resolve_checkpoint
from dcgan.config import TrainConfig
from dcgan.datasets import DATASETS, is_folder, labelled_names
from dcgan.data import ImageData, load_dataset
from dcgan.errors import CheckpointError, ConfigError, DataError
from dcgan.models import Discriminator, build_discriminator, build_generator
from dcgan.sampling import misfit

GRID = 4  # each block's activation is max-pooled to 4x4 (section 5.1)
SVM_C = 0.001  # the L2-SVM's inverse penalty on standardised features, the same for all three probes


@dataclass
class ProbeScore:
    name: str  # "trained D", "random D" or "pixels"
    features: int  # length of each image's feature vector
    accuracy: float  # on the held-out images, 0..1


@dataclass
class ProbeResult:
    dataset: str
    checkpoint: str
    step: int  # training step of the trained D
    labels_per_class: int
    train_images: int  # labelled images the probes were fitted on
    test_images: int  # held-out images they were scored on
    test_source: str  # "test split" or "the rest of the folder"
    seed: int
    scores: list[ProbeScore] = field(default_factory=list)

    def accuracy(self, name: str) -> float:
        return next(s.accuracy for s in self.scores if s.name == name)

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """The scores as aligned text lines."""
        lines = [f"linear probe (L2-SVM on standardised features) on {self.dataset}: {self.labels_per_class} "
                 f"labels per class ({self.train_images} images), scored on {self.test_images} images of the "
                 f"{self.test_source}; seed {self.seed}"]
        for s in self.scores:
            lines.append(f"  {s.name:<10} {s.features:>7} features   accuracy {s.accuracy:.4f}")
        return "\n".join(lines)


# --- The three representations ------------------------------------------------------------------------------

def load_discriminator(target: str | os.PathLike) -> tuple[Discriminator, TrainConfig, int, Path]:
    """(trained D in eval mode, the run's config, step, checkpoint path) from a run folder or checkpoint."""
    path = resolve_checkpoint(target)
    if path.suffix == ".safetensors":
        raise CheckpointError(f"{path} holds only the generator; the probe needs D: give the run folder or one "
                              f"of its checkpoints/step-*.pt")
    ckpt = load_checkpoint(path)
    config = TrainConfig.from_dict(ckpt["config"]).resolved()
    D = build_discriminator(config)
    wrong = misfit(D, ckpt.get("D"), "D")  # torch's own error lists every key, on many lines
    if wrong:
        raise CheckpointError(f"{path}: D's weights do not fit the discriminator its config describes ({wrong})")
    D.load_state_dict(ckpt["D"])
    _check_unconditioned_features(config)
    return D.eval(), config, int(ckpt["step"]), path


def _check_unconditioned_features(config: TrainConfig) -> None:
    if config.conditional and config.d_conditioning == "concat":
        raise ConfigError("this run's D takes the class as input channels (--d-conditioning concat), so its "
                          "features would carry the label the probe is asked to predict; probe a run with "
                          "projection conditioning or an unconditional one")


def initial_discriminator(config: TrainConfig) -> Discriminator:
    """The D a run with this config started from: torch seeded with the run's seed, G built, then D (the
    trainer's order), without touching the caller's random state."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        build_generator(config)  # consumes the same draws the trainer's G does
        return build_discriminator(config).eval()


@torch.no_grad()
def pooled_features(D: Discriminator, images: torch.Tensor, device: str | torch.device = "cpu",
                    batch_size: int = 500) -> np.ndarray:
    """Every block's activation max-pooled to GRIDxGRID, flattened and concatenated (section 5.1):
    uint8 images (N, C, H, W) -> (N, sum_i C_i * GRID * GRID) float32."""
    D = D.to(device).eval()
    out = []
    for part in images.split(batch_size):
        x = part.to(device).float().div(127.5).sub(1)  # the trainer's [-1, 1] scaling
        # D's blocks, without the class input a projection-conditioned D takes only at its head: the probe reads
        # what D learned about images, never the label (concat-conditioned runs are refused in load_discriminator).
        maps = []  # [(B, C_i, H_i, W_i), ...]
        for block in D.blocks:
            x = block(x)
            maps.append(x)
        out.append(torch.cat([F.adaptive_max_pool2d(m, GRID).flatten(1) for m in maps], dim=1).float().cpu())
    return torch.cat(out).numpy()


def pixel_features(images: torch.Tensor) -> np.ndarray:
    """uint8 images (N, C, H, W) -> (N, C*H*W) float32 in [-1, 1]."""
    return images.flatten(1).float().div(127.5).sub(1).numpy()


# --- Data ---------------------------------------------------------------------------------------------------

def few_labels(labels: np.ndarray, per_class: int, seed: int) -> np.ndarray:
    """Indices of `per_class` images of every class, drawn at random from `seed`."""
    rng = np.random.default_rng(seed)
    picks = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        if len(members) < per_class:
            raise DataError(f"class {c} has only {len(members)} labelled images, fewer than --labels-per-class "
                            f"{per_class}; lower it")
        picks.append(rng.choice(members, per_class, replace=False))
    return np.sort(np.concatenate(picks))


def probe_data(config: TrainConfig, data_dir: str | os.PathLike | None, per_class: int, seed: int,
               test_count: int | None) -> tuple[ImageData, ImageData, str]:
    """(labelled few, held-out, where the held-out came from) for the run's dataset: its official test split,
    or for a folder of class folders, the images not picked for training."""
    name, data_dir = config.dataset, data_dir or config.data_dir
    if name in DATASETS and not DATASETS[name].labelled:
        raise DataError(f"{name} has no class labels to probe with; the probe needs a labelled dataset: "
                        f"{', '.join(labelled_names())} or a folder of class folders")
    train = load_dataset(name, data_dir, config.image_size, config.channels, split="train")
    if train.labels is None:
        raise DataError(f"{train.source} has no class labels (a folder needs one sub-folder per class); the "
                        f"probe needs a labelled dataset")
    labels = train.labels.numpy()
    picked = few_labels(labels, per_class, seed)
    if is_folder(name):
        rest = np.setdiff1d(np.arange(len(labels)), picked)
        test, source = ImageData(train.images[rest], train.labels[rest]), "rest of the folder"
    else:
        test, source = load_dataset(name, data_dir, config.image_size, config.channels, split="test"), "test split"
    if test_count is not None:
        if test_count < 1:
            raise ConfigError(f"the number of test images must be at least 1, got {test_count}")
        keep = np.sort(np.random.default_rng(seed).permutation(len(test))[:test_count])
        test = ImageData(test.images[keep], test.labels[keep])
    if len(test) == 0:
        raise DataError(f"no images are left to test on after taking {per_class} per class; lower "
                        f"--labels-per-class")
    return ImageData(train.images[picked], train.labels[picked]), test, source


# --- The probe ----------------------------------------------------------------------------------------------

def probe_accuracy(train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray,
                   seed: int = 0) -> float:
    """Fit the linear probe on (train_x, train_y) and return its accuracy on (test_x, test_y). The paper's
    classifier: an L2-SVM (squared hinge, L2 penalty), one-vs-rest, on standardised features."""
    model = make_pipeline(StandardScaler(), LinearSVC(C=SVM_C, random_state=seed, max_iter=10000))
    model.fit(train_x, train_y)
    return float(model.score(test_x, test_y))


def run_probe(target: str | os.PathLike, labels_per_class: int = 100, seed: int = 0,
              test_count: int | None = None, data_dir: str | os.PathLike | None = None,
              device: str | torch.device = "cpu") -> ProbeResult:
    """The probe on the trained D, on the D the run started from, and on pixels, with the same labelled images
    (`labels_per_class` per class, drawn from `seed`) and the same held-out images (all, or `test_count`)."""
    if labels_per_class < 1:
        raise ConfigError(f"--labels-per-class must be at least 1, got {labels_per_class}")
    trained, config, step, path = load_discriminator(target)
    train, test, source = probe_data(config, data_dir, labels_per_class, seed, test_count)
    if len(np.unique(train.labels.numpy())) < 2:
        raise DataError("the dataset has a single class; a classifier needs at least two")
    result = ProbeResult(config.dataset, str(path), step, labels_per_class, len(train), len(test), source, seed)
    y_train, y_test = train.labels.numpy(), test.labels.numpy()
    initial = initial_discriminator(config)
    representations = [
        ("trained D", lambda images: pooled_features(trained, images, device)),
        ("random D", lambda images: pooled_features(initial, images, device)),
        ("pixels", pixel_features),
    ]
    for name, represent in representations:
        x_train, x_test = represent(train.images), represent(test.images)
        accuracy = probe_accuracy(x_train, y_train, x_test, y_test, seed)
        result.scores.append(ProbeScore(name, int(x_train.shape[1]), accuracy))
    return result
