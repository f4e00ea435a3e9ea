"""The metric vocabulary: the name of every number a training step reports, and its label for people, defined once.

Names are slash names, group/quantity (TensorBoard groups its panels by the part before the slash): the trainer
reports them, metrics.jsonl keeps them, TensorBoard and W&B log under them, the server's API and the page's charts
key their series by them, and the page takes their labels from GET /api/config/schema (`metrics`). A periodic
evaluation adds eval/<metric> (dcgan.metrics.evaluate). Runs written before these names (loss_D, D_x, ...) are read
as today's by dcgan.rundir (OLD_METRIC_NAMES).
"""

from __future__ import annotations

from typing import NamedTuple

LOSS_D = "loss/D"
LOSS_G = "loss/G"
LOSS_RATIO = "loss/ratio"
D_REAL = "D/real"
D_FAKE = "D/fake"
D_FAKE_BEFORE_G = "D/fake_before_G"
D_FAKE_AFTER_G = "D/fake_after_G"
W_DISTANCE = "D/W_distance"
GRADIENT_PENALTY = "penalty/gp"
R1_PENALTY = "penalty/r1"
LR_G = "lr/G"
LR_D = "lr/D"
IMAGES_PER_S = "speed/images_per_s"


class Metric(NamedTuple):
    name: str
    label: str  # short, for charts, the console and the dry run's line
    meaning: str


STEP_METRICS: dict[str, Metric] = {m.name: m for m in (
    Metric(LOSS_D, "loss_D", "D's loss in its last update of the step, penalties included"),
    Metric(LOSS_G, "loss_G", "G's loss in its update"),
    Metric(LOSS_RATIO, "loss_G / loss_D", "the balance of G and D, for the non-saturating objective with G's own "
                                          "loss (the health monitor's bands: GET /api/health/bands)"),
    Metric(D_REAL, "D(x)", "mean sigmoid of D's output on the real batch, in D's last update"),
    Metric(D_FAKE, "D(G(z))", "mean sigmoid of D's output on the fake batch, in D's last update"),
    Metric(D_FAKE_BEFORE_G, "D(G(z)) before G's update", "D(G(z)) as G's update sees it, after D's update"),
    Metric(D_FAKE_AFTER_G, "D(G(z)) after G's update", "D(G(z)) of the same z through the updated G, "
                                                       "without augmentation or instance noise"),
    Metric(W_DISTANCE, "W distance", "the critic's Wasserstein estimate, mean D(x) - mean D(G(z)) (wgan-gp)"),
    Metric(GRADIENT_PENALTY, "gradient penalty", "WGAN-GP's penalty before --gp-weight (Gulrajani et al. 2017)"),
    Metric(R1_PENALTY, "R1 penalty", "R1's penalty on real images before --r1 / 2 (Mescheder et al. 2018)"),
    Metric(LR_G, "lr G", "G's learning rate at the step (schedule and process scaling applied)"),
    Metric(LR_D, "lr D", "D's learning rate at the step"),
    Metric(IMAGES_PER_S, "images/s", "training images per second since the last logged step, evaluations "
                                     "excluded"),
)}


def label(name: str) -> str:
    """How people read a metric: its label, or the name itself for one outside the table (eval/fid)."""
    metric = STEP_METRICS.get(name)
    return metric.label if metric is not None else name
