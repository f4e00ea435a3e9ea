"""GAN objectives as pure functions of D's outputs (logits or critic scores), and the gradient penalties.

The cross-entropy objectives are written with softplus, the numerically stable form:
  -log sigmoid(l) = softplus(-l),   -log(1 - sigmoid(l)) = softplus(l).
Each objective is a pair (D's loss, G's loss) with the traits the rest of dcgan reads; LOSSES maps the --loss
names to them, and the config's choices, help and checks, the dashboard's form (/api/config/schema), the training
step, the memory budget and the health monitor all read it. Adding an objective is its two functions and one entry
in LOSSES (tests/test_losses.py then checks it everywhere objectives are chosen).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, NamedTuple

if TYPE_CHECKING:
    import torch

# torch is imported where a loss is computed, not with this module: the command line and the config read LOSSES
# (choices, help, checks) before torch loads, so `dcgan train --help` and a wrong option answer in a fraction of a
# second instead of the 2 s torch takes to import.


def softplus(x: torch.Tensor) -> torch.Tensor:
    """log(1 + e^x), torch's numerically stable form."""
    import torch.nn.functional as F
    return F.softplus(x)


def _real_term(real: torch.Tensor, target: float) -> torch.Tensor:
    """Cross-entropy of logits against a real-image target: 1, or 1 - s with one-sided label smoothing
    (Salimans et al. 2016, section 3.4: smooth only the real side)."""
    return (target * softplus(-real) + (1 - target) * softplus(real)).mean()


def d_nonsaturating(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """D maximises log D(x) + log(1 - D(G(z))) (Goodfellow et al. 2014, eq. 1)."""
    return _real_term(real, real_target) + softplus(fake).mean()


def g_nonsaturating(fake: torch.Tensor) -> torch.Tensor:
    """G maximises log D(G(z)) instead of minimising log(1 - D(G(z))): strong gradients early in training
    (Goodfellow et al. 2014, section 3). The default."""
    return softplus(-fake).mean()


def g_minimax(fake: torch.Tensor) -> torch.Tensor:
    """G minimises log(1 - D(G(z))) = -softplus(l): the original saturating game (Goodfellow et al. 2014, eq. 1),
    whose gradient vanishes when D confidently rejects the fakes."""
    return -softplus(fake).mean()


def d_lsgan(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Least squares (Mao et al. 2017, eq. 2 with a=0, b=1): D pulls real scores to 1 and fake scores to 0."""
    return 0.5 * ((real - real_target) ** 2).mean() + 0.5 * (fake ** 2).mean()


def g_lsgan(fake: torch.Tensor) -> torch.Tensor:
    """Least squares G loss (Mao et al. 2017, c=1)."""
    return 0.5 * ((fake - 1) ** 2).mean()


def d_hinge(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """Hinge loss (Lim & Ye 2017; Miyato et al. 2018): D pushes real scores above +1 and fake below -1."""
    return (1 - real).relu().mean() + (1 + fake).relu().mean()


def g_critic(fake: torch.Tensor) -> torch.Tensor:
    """G raises the critic's score of its samples: the generator loss of WGAN (Arjovsky et al. 2017) and of the
    hinge objective (Miyato et al. 2018)."""
    return -fake.mean()


def d_wasserstein(real: torch.Tensor, fake: torch.Tensor, real_target: float = 1.0) -> torch.Tensor:
    """The critic's Wasserstein-1 estimate, negated (Arjovsky et al. 2017); add gradient_penalty for WGAN-GP."""
    return fake.mean() - real.mean()


def feature_matching(real_features: torch.Tensor, fake_features: torch.Tensor) -> torch.Tensor:
    """G's feature-matching loss ||E_x f(x) - E_z f(G(z))||^2 on D's intermediate activations f (Salimans et
    al. 2016, section 3.1): G matches the statistics of real data's features instead of maximising D's output,
    a target that does not move as fast as D's verdict. Features (B, ...) of a real and a fake batch; the squared
    distance is averaged over the feature dimensions (as their code does), so its scale does not grow with D's
    width. Real features carry no gradient."""
    real_mean = real_features.detach().flatten(1).float().mean(0)
    return (real_mean - fake_features.flatten(1).float().mean(0)).pow(2).mean()


class Objective(NamedTuple):
    d_loss: Callable[..., torch.Tensor]
    g_loss: Callable[[torch.Tensor], torch.Tensor]
    smoothable: bool  # D is trained toward targets (1 real, 0 fake): one-sided label smoothing has a meaning
    source: str  # where it comes from, for its help text
    # D's outputs are logits of P(real), so sigmoid(D(x)) reads as a probability: the health monitor judges D(x) and
    # D(G(z)) against its thresholds (other objectives' scores have no fixed scale).
    probabilities: bool = False
    # A Wasserstein critic with a gradient penalty on each sample's gradient (Gulrajani et al. 2017): D's loss adds
    # gp_weight x gradient_penalty and logs W_distance; BatchNorm, which couples the samples, is refused in D (d_norm
    # auto is layer); the penalty's double backward takes more memory.
    gradient_penalty: bool = False


LOSSES: dict[str, Objective] = {
    "nonsaturating": Objective(d_nonsaturating, g_nonsaturating, True, "Goodfellow 2014, default", probabilities=True),
    "minimax": Objective(d_nonsaturating, g_minimax, True, "the saturating original", probabilities=True),
    "lsgan": Objective(d_lsgan, g_lsgan, True, "Mao 2017"),
    "hinge": Objective(d_hinge, g_critic, False, "Miyato 2018"),
    "wgan-gp": Objective(d_wasserstein, g_critic, False, "Gulrajani 2017", gradient_penalty=True),
}


def help_text() -> str:
    return "the GAN objective: " + ", ".join(f"{name} ({o.source})" for name, o in LOSSES.items())


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None) -> torch.Tensor:
    """E[(||grad D(x_hat)||_2 - 1)^2] at random points x_hat between real and fake samples
    (Gulrajani et al. 2017, algorithm 1). Multiply by the weight lambda (10 in the paper)."""
    import torch
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, generator=generator)
    x_hat = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(x_hat).sum(), x_hat, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E[||grad D(x)||^2] on real data (Mescheder et al. 2018, eq. 9). Multiply by gamma / 2.
    `real` must have requires_grad set before D ran on it."""
    import torch
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(1).mean()
