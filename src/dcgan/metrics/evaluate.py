"""Evaluating a run, a generator or a set of images against the real data; eval.json.

    from dcgan.metrics import evaluate_run
    report = evaluate_run("runs/x", samples=10000)       # writes runs/x/eval.json
    report.metrics["fid"], report.rows()                  # numbers, or labelled rows for a table

The core never prints: `progress` receives one line per phase.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Iterator

import torch

from dcgan.config import check_noise_seed
from dcgan.errors import ConfigError
from dcgan.metrics.features import FeatureExtractor, Features, resolve_features
from dcgan.metrics.reference import Reference, reference_statistics
from dcgan.metrics.registry import METRICS
from dcgan.rundir import RunFolder, run_of

GENERATE_BATCH = 500
# Precision and recall (k=3) measure each vector's distance to its third nearest other one: 4 samples at least,
# and 4 real images (dcgan.metrics.precision_recall). Fewer make no numbers worth a table.
MIN_SAMPLES = 4
NUMPY_SEEDS = 2**32  # numpy's RandomState (KID's subsets, the Inception Score's shuffle) takes 32 bits

# How each number reads in a table: label, format, what it means.
ROWS: list[tuple[str, str, str, str]] = [
    ("fid", "FID", "{:.3f}", "0 = the real feature distribution; lower is better"),
    ("kid", "KID", "{:.5f}", "unbiased MMD^2, ± its std over subsets; 0 = real"),
    ("precision", "precision", "{:.3f}", "share of samples on the real manifold (quality)"),
    ("recall", "recall", "{:.3f}", "share of real images on the samples' manifold (coverage)"),
    ("is", "{is_label}", "{:.3f}", "higher: confident and varied classes"),
    ("classes_covered", "classes covered", "{:.0f}", "classes with >= 10% of their real share of samples"),
    ("class_kl", "class KL", "{:.4f}", "KL(samples || real) of the class histograms, nats; 0 = real mix"),
    ("class_accuracy", "class accuracy", "{:.1%}", "a conditional G's samples classified as the class asked for; "
                                                   "chance: {chance}"),
    ("diversity", "diversity", "{:.3f}", "mean pairwise feature distance / real's; 1 = as varied as real"),
    ("nn_ratio", "nearest-neighbour ratio", "{:.3f}", "sample-to-train / train-to-train distance; << 1 = copies"),
    ("copies", "copies", "{:.2%}", "samples closer to a training image than 99% of real ones (~1% by chance)"),
]


@dataclass
class EvalReport:
    metrics: dict[str, float]  # flat numbers: fid, kid, kid_std, precision, recall, is, is_std, ...
    samples: int
    reference_images: int
    features: dict[str, Any]  # the extractor: space, name, id, dim, classes, weights, ...
    seed: int
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)  # class histograms, closest samples
    notes: list[str] = field(default_factory=list)  # e.g. why auto chose the classifier
    source: dict[str, Any] = field(default_factory=dict)  # run, checkpoint, step
    created: str = field(default_factory=lambda: datetime.now().isoformat(timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        from dcgan import __version__

        return {**asdict(self), "dcgan_version": __version__}

    def rows(self) -> list[tuple[str, str, str]]:
        """(label, value, meaning) for every number present, in a fixed order."""
        is_label = "Inception Score" if self.features.get("space") == "inception" else "classifier score (IS)"
        out = []
        for key, label, fmt, meaning in ROWS:
            if key not in self.metrics:
                continue
            value = fmt.format(self.metrics[key])
            if key == "kid" and "kid_std" in self.metrics:
                value += " ± " + fmt.format(self.metrics["kid_std"])
            elif key == "kid":  # one subset of every sample (dcgan.metrics.kid): no spread to show
                meaning = f"unbiased MMD^2 of all {self.samples} samples; 0 = real"
            elif key == "is":
                value += " ± " + fmt.format(self.metrics["is_std"])
                if "is_real" in self.metrics:
                    meaning = f"real images: {self.metrics['is_real']:.3f}; " + meaning
            elif key == "classes_covered":
                value += f" / {self.metrics['num_classes']:.0f}"
            elif key == "class_accuracy":
                classes = len(self.details.get("class_accuracy") or [])
                meaning = meaning.format(chance=f"{1 / classes:.0%}" if classes else "1 / classes")
            out.append((label.format(is_label=is_label), value, meaning))
        return out


def check_metric_names(names: list[str] | None) -> list[str]:
    """The metric names asked for (None: all); an unknown one is a ConfigError."""
    names = list(METRICS) if names is None else names
    unknown = [n for n in names if n not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric {unknown[0]!r}: choose from {', '.join(METRICS)}")
    return names


def select_metrics(names: list[str] | None, extractor: FeatureExtractor) -> tuple[list[str], list[str]]:
    """(metric names to compute, notes on those the extractor cannot give); unknown names are a ConfigError."""
    names = check_metric_names(names)
    chosen, notes = [], []
    for name in names:
        needs = METRICS[name].needs
        if needs == "classes" and not extractor.class_names:
            notes.append(f"{name}: needs a domain classifier's classes ({extractor.name} has none)")
        else:
            chosen.append(name)
    return chosen, notes


def score(fake: Features, reference: Reference, extractor: FeatureExtractor, *, metrics: list[str] | None = None,
          seed: int = 0) -> EvalReport:
    """Every chosen metric of the samples' features against the reference."""
    start = time.perf_counter()
    if len(fake) < MIN_SAMPLES:
        raise ConfigError(f"evaluation needs at least {MIN_SAMPLES} samples, got {len(fake)}")
    names, notes = select_metrics(metrics, extractor)
    numbers: dict[str, float] = {}
    details: dict[str, Any] = {}
    for name in names:
        values, extra = METRICS[name].compute(fake, reference, seed % NUMPY_SEEDS)
        numbers.update(values)
        details.update(extra)
    return EvalReport(numbers, len(fake), reference.count, extractor.describe(), seed,
                      time.perf_counter() - start, details, notes)


def evaluate_images(images: torch.Tensor, extractor: FeatureExtractor, reference: Reference, *,
                    metrics: list[str] | None = None, seed: int = 0) -> EvalReport:
    """Score a set of uint8 images (N, C, H, W), e.g. real test images or a degraded copy (the sanity ladder)."""
    start = time.perf_counter()
    report = score(extractor(images), reference, extractor, metrics=metrics, seed=seed)
    report.seconds = time.perf_counter() - start
    return report


def sample_labels(count: int, num_classes: int, real_labels: torch.Tensor | None, seed: int) -> torch.Tensor:
    """Classes for a conditional G, drawn from the real class frequencies (uniform without labels)."""
    gen = torch.Generator().manual_seed(seed + 1)
    if real_labels is None:
        return torch.randint(num_classes, (count,), generator=gen)
    weights = torch.bincount(real_labels, minlength=num_classes).double()
    return torch.multinomial(weights, count, replacement=True, generator=gen)


def generated_batches(generator, count: int, seed: int, labels: torch.Tensor | None) -> Iterator[torch.Tensor]:
    """G's samples as uint8 batches: z = generator.noise(count, seed), so sample i can be made again."""
    z = generator.noise(count, seed)
    for i in range(0, count, GENERATE_BATCH):
        yield generator.generate(z[i:i + GENERATE_BATCH], labels[i:i + GENERATE_BATCH] if labels is not None else None)


def class_accuracy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, list[float | None]]:
    """How well a conditional G draws the class it is asked for: the share of its samples that the domain
    classifier puts in that class, overall and per class (None for a class not drawn), the measure Odena et al.
    2017 (AC-GAN, section 4.1) take with a pre-trained classifier. logits (N, K), labels (N,)."""
    hits = (logits.argmax(1) == labels).double()  # (N,)
    per_class = [round(float(hits[labels == k].mean()), 6) if (labels == k).any() else None
                 for k in range(logits.shape[1])]
    return float(hits.mean()), per_class


def evaluate_generator(generator, extractor: FeatureExtractor, reference: Reference, *, samples: int = 10000,
                       seed: int = 0, metrics: list[str] | None = None,
                       real_labels: torch.Tensor | None = None) -> EvalReport:
    """Score `samples` images of a LoadedGenerator (dcgan.sampling)."""
    start = time.perf_counter()
    labels = sample_labels(samples, generator.num_classes, real_labels, seed) if generator.num_classes else None
    fake = extractor.stream(generated_batches(generator, samples, seed, labels))
    report = score(fake, reference, extractor, metrics=metrics, seed=seed)
    if (labels is not None and fake.logits is not None and list(extractor.class_names) == generator.classes
            and (metrics is None or "modes" in metrics)):  # the class metrics
        report.metrics["class_accuracy"], report.details["class_accuracy"] = class_accuracy(fake.logits, labels)
    report.seconds = time.perf_counter() - start
    report.source = {"step": generator.step, "checkpoint": generator.source}
    return report


def evaluate_run(run: str | os.PathLike, *, samples: int = 10000, checkpoint: str | os.PathLike | None = None,
                 features: str = "auto", inception_weights: str | os.PathLike | None = None,
                 classifier: str | os.PathLike | None = None, device: str = "cpu", seed: int = 0,
                 metrics: list[str] | None = None, max_reference: int | None = None, write: bool = True,
                 progress: Callable[[str], None] | None = None) -> EvalReport:
    """Evaluate a run's generator (its last checkpoint, or `checkpoint`) against its training data, and write
    eval.json into the run (atomically) unless `write` is False."""
    from dcgan.data import load_dataset
    from dcgan.device import resolve_device
    from dcgan.sampling import load_generator

    say = progress or (lambda line: None)
    start = time.perf_counter()
    run = Path(run)
    if not MIN_SAMPLES <= samples <= 100000:
        raise ConfigError(f"-n must be between {MIN_SAMPLES} and 100000 (precision and recall compare each sample "
                          f"with its 3 nearest), got {samples}", field="samples")
    if max_reference is not None and max_reference < MIN_SAMPLES:
        raise ConfigError(f"--max-reference must be at least {MIN_SAMPLES} (precision and recall compare each real "
                          f"image with its 3 nearest), got {max_reference}", field="max_reference")
    check_noise_seed(seed, "--seed")
    check_metric_names(metrics)  # before the slow part
    device = resolve_device(device)
    generator = load_generator(checkpoint if checkpoint is not None else run, device=device)
    cfg = generator.config
    notes: list[str] = []
    extractor = resolve_features(features, cfg.dataset, inception_weights=inception_weights, classifier=classifier,
                                 device=device, notes=notes)
    say(f"loading {cfg.dataset} at {cfg.image_size}x{cfg.image_size}")
    data = load_dataset(cfg.dataset, cfg.data_dir, cfg.image_size, cfg.channels, split="train")
    reference = reference_statistics(cfg.dataset, data, extractor, max_images=max_reference, progress=say)
    say(f"scoring {samples} samples of step {generator.step}")
    report = evaluate_generator(generator, extractor, reference, samples=samples, seed=seed, metrics=metrics,
                                real_labels=data.labels)
    report.notes[:0] = notes
    report.seconds = time.perf_counter() - start
    report.source = {"run": str(run), "checkpoint": generator.source, "step": generator.step,
                     "dataset": cfg.dataset, "image_size": cfg.image_size, "channels": cfg.channels}
    if write:
        write_report(run, report)
    return report


def write_report(run: str | Path, report) -> Path:
    """The report as the eval.json (what the dashboard and `dcgan export`'s model card show) of the run it scores:
    the folder itself, or the run holding a checkpoint or generator file."""
    target = Path(run)
    return RunFolder(run_of(target) or (target if target.is_dir() else target.parent)).write_evaluation(
        report.to_dict())


# --- During training ----------------------------------------------------------------------------------------

EVAL_PREFIX = "eval/"
# The flat numbers that go into metrics.jsonl as eval/<name>; the stds and baselines stay in eval.json.
LOGGED = ("fid", "kid", "precision", "recall", "is", "classes_covered", "coverage", "class_kl", "diversity",
          "nn_ratio", "copies")
TRAINING_REFERENCE_LIMIT = 10000  # real images for an Inception reference during training (a CPU is slow)


class TrainingEvaluator:
    """The periodic evaluation of `--eval-every`: `samples` images of the training G (fixed noise, so steps
    compare) against the training data's cached reference.

    Built in the trainer's setup, so a missing feature extractor fails before anything is written; the
    reference statistics are computed (or read from the cache) at the first evaluation.
    """

    def __init__(self, config, data, device: torch.device, samples: int, features: str = "auto"):
        self.config = config
        self.data = data
        self.samples = samples
        self.extractor = resolve_features(features, config.dataset, device=device, prefer="classifier")
        self.reference: Reference | None = None

    def __call__(self, model: torch.nn.Module, step: int) -> EvalReport:
        """Score `model` (the sampling G, in whatever mode it was: it is put back) at `step`."""
        from dcgan.sampling import LoadedGenerator

        if self.reference is None:
            limit = TRAINING_REFERENCE_LIMIT if self.extractor.space == "inception" else None
            self.reference = reference_statistics(self.config.dataset, self.data, self.extractor, max_images=limit)
        was_training = model.training
        try:
            generator = LoadedGenerator(model, self.config, step, "training")  # puts model in eval mode
            report = evaluate_generator(generator, self.extractor, self.reference, samples=self.samples,
                                        seed=self.config.seed or 0, real_labels=self.data.labels)
        finally:
            model.train(was_training)
        if "classes_covered" in report.metrics:
            report.metrics["coverage"] = report.metrics["classes_covered"] / max(report.metrics["num_classes"], 1)
        return report

    @staticmethod
    def logged(report: EvalReport) -> dict[str, float]:
        """eval/<name> -> value for metrics.jsonl, TensorBoard and the dashboard."""
        return {EVAL_PREFIX + k: float(report.metrics[k]) for k in LOGGED if k in report.metrics}
