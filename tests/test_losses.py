import torch
import torch.nn.functional as F

from dcgan import losses


def test_d_loss_equals_binary_cross_entropy_of_probabilities():
    real, fake = torch.tensor([2.0, -0.5, 0.3]), torch.tensor([-1.0, 0.7, 0.0])
    bce = F.binary_cross_entropy(torch.sigmoid(real), torch.ones(3)) + \
        F.binary_cross_entropy(torch.sigmoid(fake), torch.zeros(3))
    assert torch.allclose(losses.d_loss_nonsaturating(real, fake), bce, atol=1e-6)


def test_g_loss_is_minus_log_d_of_fake():
    fake = torch.tensor([-1.0, 0.7, 0.0])
    assert torch.allclose(losses.g_loss_nonsaturating(fake), -torch.log(torch.sigmoid(fake)).mean(), atol=1e-6)


def test_logits_form_stays_finite_where_probabilities_saturate():
    huge = torch.tensor([200.0, -200.0])
    assert torch.isfinite(losses.d_loss_nonsaturating(huge, huge))
    logits = torch.tensor([-200.0], requires_grad=True)
    losses.g_loss_nonsaturating(logits).backward()
    # Non-saturating: a confidently rejected fake still gets a strong gradient (Goodfellow et al. 2014).
    assert logits.grad.abs().item() > 0.99
