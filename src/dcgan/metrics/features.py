"""Feature extractors: the spaces in which generated images are compared with real ones.

Two spaces:
- `inception`: Inception-v3's 2048-d pool features and its 1008 logits, through torch-fidelity's port of the
  TensorFlow graph that FID was defined on (Heusel et al. 2017), with its conventions: uint8 images, resized to
  299x299 by TF1-compatible bilinear interpolation, grey replicated to RGB. Needs the weights (a download, or
  `--inception-weights PATH`).
- `classifier`: the penultimate 128-d features and class logits of a small CNN trained on the dataset
  (dcgan.metrics.classifier), shipped with the package: offline, and about 100x cheaper than Inception on a CPU.
  Only for grey 28x28 datasets (MNIST, Fashion-MNIST).

Numbers from different spaces are not comparable; every report names its space.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import torch

from dcgan.errors import ConfigError, first_line
from dcgan.metrics.classifier import PACKAGE_WEIGHTS, load_classifier, to_input
from dcgan.metrics.registry import CLASSIFIER_DATASETS, FEATURE_SPACES

# torch-fidelity's Inception-v3 weights (converted from TensorFlow's 2015-12-05 graph), as torchmetrics uses them.
INCEPTION_URL = ("https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
                 "weights-inception-2015-12-05-6726825d.pth")
OFFLINE_ENV = "DCGAN_OFFLINE"  # set to 1: never download (Inception weights)


@dataclass
class Features:
    """Features (N, D) float32 and, where the extractor classifies, logits (N, K), on the CPU."""

    features: torch.Tensor
    logits: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.features.shape[0]

    @staticmethod
    def cat(parts: list["Features"]) -> "Features":
        logits = [p.logits for p in parts]
        return Features(torch.cat([p.features for p in parts]),
                        torch.cat(logits) if all(x is not None for x in logits) else None)


@dataclass
class FeatureExtractor:
    """uint8 images (N, C, H, W) -> Features, in batches, with what a report needs to name it.

    `id` changes with the weights, so cached reference statistics never mix two extractors.
    """

    space: str  # "inception" or "classifier"
    name: str  # for people: "fashion-mnist classifier", "Inception-v3"
    id: str  # for cache keys: name and a hash of the weights
    dim: int
    model: torch.nn.Module  # the model's input -> (features, logits)
    prepare: Callable[[torch.Tensor], torch.Tensor]  # uint8 batch -> the model's input
    device: torch.device = torch.device("cpu")
    batch_size: int = 500
    class_names: list[str] = field(default_factory=list)  # empty: no class predictions to count
    info: dict[str, Any] = field(default_factory=dict)  # for eval.json: weights, test accuracy, ...

    def __call__(self, images: torch.Tensor) -> Features:
        return self.stream([images])

    @torch.no_grad()
    def stream(self, batches: Iterable[torch.Tensor]) -> Features:
        """Features of uint8 batches from an iterator (e.g. a generator's output), never holding all images."""
        parts = []
        for batch in batches:
            parts.extend(self._batch(batch[i:i + self.batch_size]) for i in range(0, batch.shape[0], self.batch_size))
        return Features.cat(parts) if parts else Features(torch.zeros(0, self.dim))

    def _batch(self, images: torch.Tensor) -> Features:
        features, logits = self.model(self.prepare(images).to(self.device))
        return Features(features.float().cpu(), logits.float().cpu() if logits is not None else None)

    def describe(self) -> dict[str, Any]:
        return {"space": self.space, "name": self.name, "id": self.id, "dim": self.dim,
                "classes": self.class_names, **self.info}


def file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()[:12]


# --- The domain classifier ----------------------------------------------------------------------------------

def user_cache() -> Path:
    """dcgan's cache folder: $DCGAN_CACHE, else $XDG_CACHE_HOME/dcgan, else ~/.cache/dcgan."""
    if os.environ.get("DCGAN_CACHE"):
        return Path(os.path.expanduser(os.environ["DCGAN_CACHE"]))
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "dcgan"


def classifier_file(dataset: str) -> str:
    return f"{dataset}-classifier.safetensors"


def find_classifier(dataset: str) -> Path | None:
    """The classifier weights for a dataset: the package's own (shipped), else one the user trained into the
    cache with `dcgan train-classifier`."""
    for folder in (PACKAGE_WEIGHTS, user_cache() / "classifiers"):
        path = folder / classifier_file(dataset)
        if path.is_file():
            return path
    return None


def _grey28(images: torch.Tensor) -> torch.Tensor:
    """Any uint8 (N, C, H, W) -> the classifier's (N, 1, 28, 28) in [-1, 1]: a run trained at another size or in
    colour is compared after the same conversion of its real images."""
    from dcgan.data import to_format

    if images.shape[1:] != (1, 28, 28):
        images = to_format(images, 28, 1)
    return to_input(images).contiguous(memory_format=torch.channels_last)


def classifier_features(dataset: str, path: str | os.PathLike | None = None,
                        device: str | torch.device = "cpu") -> FeatureExtractor:
    """The domain classifier's feature space for mnist or fashion-mnist."""
    if dataset not in CLASSIFIER_DATASETS:
        raise ConfigError(f"a domain classifier exists for {' and '.join(CLASSIFIER_DATASETS)} only, not {dataset} "
                          f"(`dcgan eval --features inception` measures it)")
    if path is None:
        path = find_classifier(dataset)
        if path is None:
            raise ConfigError(f"no {dataset} classifier is installed: train one with `dcgan train-classifier "
                              f"--dataset {dataset}` (needs the {dataset} data; it is written to "
                              f"{user_cache() / 'classifiers' / classifier_file(dataset)}), or use --features "
                              f"inception")
    path = Path(os.path.expanduser(str(path)))
    if not path.is_file():
        raise ConfigError(f"classifier weights {path} do not exist")
    trained = load_classifier(path)
    if trained.dataset != dataset:
        raise ConfigError(f"{path} is a {trained.dataset} classifier, but the run trained on {dataset}")
    device = torch.device(device)
    model = trained.model.to(device, memory_format=torch.channels_last)
    return FeatureExtractor(
        space="classifier", name=f"{dataset} classifier", id=f"classifier-{dataset}-{file_digest(path)}",
        dim=model.FEATURE_DIM, model=model, prepare=_grey28, device=device,
        batch_size=1000, class_names=trained.class_names,
        info={"weights": str(path), "test_accuracy": trained.test_accuracy})


# --- Inception-v3 -------------------------------------------------------------------------------------------

def inception_cache_path() -> Path:
    """Where torch.hub (and so torchmetrics and torch-fidelity) keep the downloaded Inception weights."""
    return Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_URL.rsplit("/", 1)[1]


def inception_available(weights: str | os.PathLike | None = None) -> bool:
    """True when Inception features can be computed without a download."""
    return (Path(os.path.expanduser(str(weights))).is_file() if weights is not None else
            inception_cache_path().is_file())


def _offline_message(why: str) -> str:
    return (f"Inception-v3 features need torch-fidelity's weights ({INCEPTION_URL.rsplit('/', 1)[1]}, 92 MB) and "
            f"{why}. Either run once on a machine with internet (they are cached in "
            f"{inception_cache_path().parent}), or download them from {INCEPTION_URL} and pass "
            f"--inception-weights PATH; for mnist and fashion-mnist, --features classifier works offline")


def _load_inception_state(weights: str | os.PathLike | None) -> tuple[dict[str, torch.Tensor], Path]:
    """The weights as a state dict and the file they came from, read without running code from the file:
    safetensors, or a weights-only unpickle of a .pth."""
    if weights is None:
        path = inception_cache_path()
        if not path.is_file():
            if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
                raise ConfigError(_offline_message(f"they are not cached and {OFFLINE_ENV} forbids downloads"))
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                torch.hub.download_url_to_file(INCEPTION_URL, str(path), progress=False)
            except Exception as e:  # URLError, timeouts, HTTP errors, a read-only cache
                raise ConfigError(_offline_message(f"could not be downloaded ({e})")) from e
    else:
        path = Path(os.path.expanduser(str(weights)))
        if not path.is_file():
            raise ConfigError(f"--inception-weights {path} does not exist")
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a foreign pickle refused by the weights-only loader, a truncated file, ...
        raise ConfigError(f"{path} is not a readable Inception-v3 weights file ({first_line(e)})") from e
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ConfigError(f"{path} does not hold a state dict of tensors")
    return state, path


def _rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


def inception_features(weights: str | os.PathLike | None = None,
                       device: str | torch.device = "cpu") -> FeatureExtractor:
    """torch-fidelity's Inception-v3: pool features (2048) and unbiased logits (1008, for the Inception Score)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    state, source = _load_inception_state(weights)
    # torch-fidelity reads weights only from a path, with a full unpickler: give it a file of our own writing,
    # made from the tensors loaded safely above. Its forward returns the features in the order listed.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "inception.pth"
        torch.save(state, path)
        try:
            model = FeatureExtractorInceptionV3("inception-v3-compat", ["2048", "logits_unbiased"],
                                                feature_extractor_weights_path=str(path))
        except RuntimeError as e:
            raise ConfigError(f"the Inception-v3 weights do not fit torch-fidelity's network ({str(e)[:300]})") from e
    device = torch.device(device)
    return FeatureExtractor(
        space="inception", name="Inception-v3", id=f"inception-{file_digest(source)}", dim=2048,
        model=model.to(device), prepare=_rgb, device=device, batch_size=64 if device.type == "cpu" else 250,
        info={"weights": str(source)})


# --- Choosing a space ---------------------------------------------------------------------------------------

def resolve_features(choice: str, dataset: str, *, inception_weights: str | os.PathLike | None = None,
                     classifier: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                     notes: list[str] | None = None, prefer: str = "inception") -> FeatureExtractor:
    """The extractor for `--features auto|inception|classifier`.

    auto (prefer="inception", `dcgan eval`): Inception when its weights are here (given, or in torch.hub's
    cache); otherwise the dataset's domain classifier, with a note saying why; datasets without one try
    Inception (a download, when online).
    auto (prefer="classifier", evaluation during training): the domain classifier where the dataset has one
    (about 100x cheaper on a CPU), else Inception.
    """
    if choice not in FEATURE_SPACES:
        raise ConfigError(f"--features must be one of {', '.join(FEATURE_SPACES)}, got {choice!r}")
    # A file the user named must be there, whichever space is chosen: auto would otherwise pass over a mistyped
    # path and measure in another space without a word.
    for flag, given in (("--inception-weights", inception_weights), ("--classifier", classifier)):
        if given is not None and not Path(os.path.expanduser(str(given))).is_file():
            raise ConfigError(f"{flag} {given} does not exist: give the path of the weights file", field=flag[2:].replace("-", "_"))
    if choice == "classifier":
        return classifier_features(dataset, classifier, device)
    has_classifier = dataset in CLASSIFIER_DATASETS and (classifier is not None or find_classifier(dataset))
    if choice == "auto" and prefer == "classifier" and has_classifier:
        return classifier_features(dataset, classifier, device)
    if choice == "inception" or inception_available(inception_weights):
        return inception_features(inception_weights, device)
    if has_classifier:
        if notes is not None:
            notes.append(f"Inception-v3 weights are not on this machine (not in {inception_cache_path().parent}; "
                         f"--inception-weights PATH gives them): using the {dataset} classifier's features, "
                         f"whose numbers are not comparable with Inception FIDs")
        return classifier_features(dataset, classifier, device)
    return inception_features(inception_weights, device)
