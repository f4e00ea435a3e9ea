import pytest
import torch
import torch.nn.functional as F

from dcgan import losses
from dcgan.config import TrainConfig, schema
from dcgan.errors import ConfigError
from dcgan.metrics.health import HealthMonitor


def test_d_loss_equals_binary_cross_entropy_of_probabilities():
    real, fake = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([-1.0, 0.7, 0.0])
    bce = F.binary_cross_entropy(torch.sigmoid(real), torch.ones(3)) + \
        F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros(3))
    assert torch.allclose(losses.d_nonsaturating(real, fake), bce, atol=1e-6)


def test_g_loss_is_minus_log_d_of_fake():
    fake = torch.tensor([-1.0, 0.7, 0.0])
    assert torch.allclose(losses.g_nonsaturating(fake), -torch.log(torch.sigmoid(fake)).mean(), atol=1e-6)


def test_logits_form_stays_finite_where_probabilities_saturate():
    huge = torch.tensor([200.0, -200.0])
    assert torch.isfinite(losses.d_nonsaturating(huge, huge))
    logits = torch.tensor([-200.0], requires_grad=True)
    losses.g_nonsaturating(logits).backward()
    # Non-saturating: a confidently rejected fake still gets a strong gradient (Goodfellow et al. 2014).
    assert logits.grad.abs().item() > 0.99


def test_minimax_gradient_vanishes_where_nonsaturating_does_not():
    rejected = torch.tensor([-10.0], requires_grad=True)
    losses.g_minimax(rejected).backward()
    assert rejected.grad.abs().item() < 1e-4  # the saturation Goodfellow et al. warn about


def test_one_sided_label_smoothing_moves_the_optimum_of_real_logits():
    logits = torch.linspace(-5, 5, 10001)
    smoothed = torch.stack([losses.d_nonsaturating(l[None], torch.tensor([-50.0]), 0.9) for l in logits])
    best = logits[smoothed.argmin()]
    assert abs(torch.sigmoid(best).item() - 0.9) < 1e-3  # D(x) is pulled to 0.9, not 1
    # Fakes keep their target of 0 (one-sided).
    assert losses.d_nonsaturating(torch.tensor([50.0]), torch.tensor([-50.0]), 1.0) < 1e-6


def test_hinge_signs():
    assert losses.d_hinge(torch.tensor([2.0]), torch.tensor([-2.0])) == 0  # beyond both margins: no loss
    assert losses.d_hinge(torch.tensor([0.0]), torch.tensor([0.0])) == 2
    assert losses.d_hinge(torch.tensor([-1.0]), torch.tensor([1.0])) == 4
    assert losses.g_critic(torch.tensor([3.0, 1.0])) == -2


def test_lsgan_values():
    assert losses.d_lsgan(torch.tensor([1.0]), torch.tensor([0.0])) == 0
    assert losses.d_lsgan(torch.tensor([0.0]), torch.tensor([1.0])) == 1
    assert losses.g_lsgan(torch.tensor([1.0])) == 0 and losses.g_lsgan(torch.tensor([0.0])) == 0.5


def test_wasserstein_critic_loss_is_the_negated_estimate():
    assert losses.d_wasserstein(torch.tensor([3.0, 1.0]), torch.tensor([0.5, -0.5])) == -2


def test_gradient_penalty_of_a_linear_critic():
    # D(x) = <w, x> has gradient w everywhere: the penalty is (||w|| - 1)^2 wherever it is evaluated.
    n = 1 * 4 * 4
    w = torch.full((1, 1, 4, 4), 2.0 / n ** 0.5)  # ||w|| = 2
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    assert torch.allclose(losses.gradient_penalty(critic, real, fake), torch.tensor(1.0), atol=1e-5)
    w.mul_(0.5)  # ||w|| = 1: the constraint holds, no penalty
    assert losses.gradient_penalty(critic, real, fake).item() < 1e-10


def test_r1_penalty_of_a_linear_critic():
    w = torch.arange(4.0).view(1, 1, 2, 2)
    real = torch.randn(5, 1, 2, 2, requires_grad=True)
    logits = (real * w).flatten(1).sum(1)
    assert torch.allclose(losses.r1_penalty(logits, real), (w ** 2).sum())


@pytest.mark.parametrize("name", sorted(losses.LOSSES))
def test_each_objective_is_offered_and_its_traits_are_read_wherever_objectives_matter(name):
    """One entry in LOSSES reaches the config's choices and help, the dashboard's form (the schema), the label-
    smoothing and normalisation checks, D's default normalisation and the health monitor (training itself:
    tests/test_techniques.py trains each)."""
    objective = losses.LOSSES[name]
    (field,) = [f for f in schema() if f["name"] == "loss"]
    assert name in field["choices"] and f"{name} ({objective.source})" in field["help"]
    config = TrainConfig(loss=name).resolved()
    if objective.smoothable:
        TrainConfig(loss=name, label_smoothing=0.1).validate()
    else:
        with pytest.raises(ConfigError, match=f"no meaning for loss='{name}'"):
            TrainConfig(loss=name, label_smoothing=0.1).validate()
    if objective.gradient_penalty:  # a per-sample penalty: no BatchNorm in D
        assert config.d_norm == "layer"
        with pytest.raises(ConfigError, match="BatchNorm couples"):
            TrainConfig(loss=name, d_norm="batch").validate()
    else:
        assert config.d_norm == "batch"
    monitor = HealthMonitor(name, window=1)
    overpowered = {"D/real": 0.999, "D/fake": 0.001}
    warnings = monitor.observe_step(1, overpowered) + monitor.observe_step(2, overpowered)
    assert bool(warnings) == objective.probabilities  # D(x) as a probability is judged; a critic's score is not
    fake = torch.randn(8, requires_grad=True)
    loss = objective.d_loss(torch.randn(8), fake, 1.0) + objective.g_loss(fake)
    loss.backward()
    assert loss.dim() == 0 and torch.isfinite(fake.grad).all()
