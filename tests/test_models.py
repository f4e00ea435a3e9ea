import copy

import pytest
import torch
from torch import nn

from dcgan.config import IMAGE_SIZES
from dcgan.errors import ConfigError
from dcgan import models
from dcgan.models import Discriminator, Generator, MinibatchDiscrimination


@pytest.mark.parametrize("size", IMAGE_SIZES)
@pytest.mark.parametrize("channels", [1, 3])
def test_generator_and_discriminator_shapes(size, channels):
    g = Generator(size, channels, latent_dim=16, width=8)
    d = Discriminator(size, channels, width=8)
    x = g(torch.randn(3, 16))
    assert x.shape == (3, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1  # Tanh output
    assert d(x).shape == (3,)  # one logit per image


def test_28_starts_from_7x7_and_64_from_4x4():
    assert Generator(28, 1, 100, 64).main[0].kernel_size == (7, 7)
    assert Generator(64, 3, 100, 64).main[0].kernel_size == (4, 4)
    assert Discriminator(28, 1, 64).head.kernel_size == (7, 7)


@pytest.mark.parametrize("size", [0, 8, 30, 48, 512])
def test_impossible_sizes_are_refused(size):
    with pytest.raises(ConfigError, match="28 or a power of two"):
        Generator(size, 1)


def test_paper_architecture_guidelines():
    g, d = Generator(64, 3, 100, 64), Discriminator(64, 3, 64)
    kinds = lambda m: [type(x) for x in m.modules()]  # noqa: E731
    # No pooling and no fully connected hidden layers in either network.
    for net in (g, d):
        assert not any(issubclass(k, (nn.MaxPool2d, nn.AvgPool2d, nn.Linear)) for k in kinds(net))
    # G: transposed convs, BatchNorm + ReLU on hidden layers, Tanh output without BatchNorm.
    layers = list(g.main)
    assert isinstance(layers[-1], nn.Tanh) and isinstance(layers[-2], nn.ConvTranspose2d)
    assert sum(isinstance(x, nn.BatchNorm2d) for x in layers) == 4
    assert sum(isinstance(x, nn.ReLU) for x in layers) == 4
    # D: strided convs, LeakyReLU(0.2); no BatchNorm on the first block, BatchNorm on all others.
    assert not any(isinstance(x, nn.BatchNorm2d) for x in d.blocks[0])
    assert all(any(isinstance(x, nn.BatchNorm2d) for x in block) for block in d.blocks[1:])
    assert all(m.negative_slope == 0.2 for m in d.modules() if isinstance(m, nn.LeakyReLU))
    assert all(m.stride == (2, 2) for block in d.blocks for m in block if isinstance(m, nn.Conv2d))
    # Widths: 512 -> 256 -> 128 -> 64 in G, mirrored in D (the paper's 64x64 model, halved).
    assert [m.out_channels for m in g.main if isinstance(m, nn.ConvTranspose2d)] == [512, 256, 128, 64, 3]
    assert [m.out_channels for m in d.modules() if isinstance(m, nn.Conv2d)] == [64, 128, 256, 512, 1]


def test_weights_follow_normal_0_002_and_batchnorm_gamma_normal_1_002():
    torch.manual_seed(0)
    g = Generator(64, 3, 100, 64)
    conv = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.ConvTranspose2d)])
    gamma = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    beta = torch.cat([m.bias.flatten() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(conv.mean()) < 1e-3 and abs(conv.std() - 0.02) < 1e-3
    assert abs(gamma.mean() - 1) < 5e-3 and abs(gamma.std() - 0.02) < 5e-3
    assert torch.all(beta == 0)


# --- G's first and D's last layer as the matrix products they are (docs/performance.md, "The small networks") ---

@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("size", [28, 64])
def test_first_and_last_layers_as_matrix_products_compute_what_the_convolutions_do(size, layout):
    torch.manual_seed(0)
    g = Generator(size, 3, latent_dim=20, width=8).to(memory_format=layout)
    d = Discriminator(size, 3, width=8).to(memory_format=layout)
    first = g.main[0]
    z = torch.randn(5, 20, 1, 1)
    x = torch.randn(5, *d.head.weight.shape[1:]).contiguous(memory_format=layout)
    for layer, convolution, inputs in ((first, nn.ConvTranspose2d.forward, z), (d.head, nn.Conv2d.forward, x)):
        out_fast = layer(inputs)
        grad_fast = torch.autograd.grad(out_fast.square().sum(), layer.weight)[0]
        out_conv = convolution(layer, inputs)
        grad_conv = torch.autograd.grad(out_conv.square().sum(), layer.weight)[0]
        torch.testing.assert_close(out_fast, out_conv, atol=1e-6, rtol=1e-5)
        torch.testing.assert_close(grad_fast, grad_conv, atol=1e-5, rtol=1e-4)
    # The next layer gets G's first map in the layout it would have had from the convolution.
    assert first(z).is_contiguous(memory_format=layout)
    with torch.autocast("cpu", dtype=torch.bfloat16):  # bf16 like the convolution under autocast
        assert first(z).dtype == nn.ConvTranspose2d.forward(first, z).dtype == torch.bfloat16
        assert d.head(x.bfloat16()).dtype == torch.bfloat16


def test_the_head_as_a_product_reads_a_spectrally_normalised_weight_once_per_forward():
    torch.manual_seed(0)
    d = Discriminator(28, 1, width=8, spectral_norm=True)
    plain = copy.deepcopy(d)
    x = torch.randn(4, 1, 28, 28)
    d(x)
    nn.Conv2d.forward(plain.head, plain.blocks[1](plain.blocks[0](x)))  # the convolution: one power iteration
    torch.testing.assert_close(d.head.parametrizations.weight[0]._u, plain.head.parametrizations.weight[0]._u)


@pytest.mark.parametrize("batch, groups", [(9, [9]), (16, [16]), (32, [16, 16]), (40, [14, 13, 13])])
def test_minibatch_discrimination_is_salimans_et_al_closeness_with_its_gradient(batch, groups):
    """o(x_i)_b = the mean over the other samples j of exp(-||M_i,b - M_j,b||_L1) (Salimans et al. 2016, section
    3.2), the others being those of the sample's group (at most 16 samples, as equal as they come), written out
    with broadcasting: the same values and the same gradients for the features and T as the layer's one-sided
    cdist with the transpose added."""
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(16, kernels=7)
    f = torch.randn(batch, 16, requires_grad=True)
    m = (f @ layer.weight.t()).view(batch, 7, layer.kernel_dim)  # (N, B, C)
    parts = []
    for rows in m.split(groups):
        closeness = torch.exp(-(rows[:, None] - rows[None]).abs().sum(3))  # (n, n, B)
        parts.append((closeness.sum(1) - 1) / (len(rows) - 1))
    reference = torch.cat(parts)
    out = layer(f)
    torch.testing.assert_close(out, reference)
    upstream = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, (f, layer.weight), upstream),
                    torch.autograd.grad(reference, (f, layer.weight), upstream), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_minibatch_discrimination_compares_each_sample_with_its_own_group_only():
    """A batch of 32 is two groups of 16: copies in the first group score near 1 against each other whatever
    the varied second group holds, and the varied group does not see the copies."""
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(8, kernels=5)
    with torch.no_grad():
        layer.weight.normal_(0, 1)
    copies, varied = torch.randn(1, 8).expand(16, 8), torch.randn(16, 8) * 3
    out = layer(torch.cat([copies, varied]))
    assert torch.allclose(out[:16], torch.ones(16, 5))
    torch.testing.assert_close(out[16:], layer(varied))
    assert out[16:].mean() < 0.5


@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
@pytest.mark.parametrize("spectral_norm", [False, True])
def test_minibatch_features_reach_the_head_as_the_constant_channels_of_salimans_et_al(layout, spectral_norm):
    """D's head takes minibatch discrimination's outputs as values, not as maps: the same logits and gradients as
    the head convolution over the last map with the outputs joined as constant channels (Salimans et al. 2016,
    section 3.2), and one power iteration per forward under spectral norm, as the convolution."""
    torch.manual_seed(0)
    d = Discriminator(28, 1, width=8, minibatch_kernels=12, spectral_norm=spectral_norm).to(memory_format=layout)
    paper = copy.deepcopy(d)
    x = torch.randn(6, 1, 28, 28).contiguous(memory_format=layout)
    fast = d(x)
    last = paper.blocks[1](paper.blocks[0](x))
    o = paper.minibatch(last.mean(dim=(2, 3)))
    joined = torch.cat([last, o[:, :, None, None].expand(-1, -1, *last.shape[2:])], dim=1)
    reference = nn.Conv2d.forward(paper.head, joined).flatten()
    torch.testing.assert_close(fast, reference, atol=1e-5, rtol=1e-5)
    for a, b in zip(torch.autograd.grad(fast.square().sum(), list(d.parameters())),
                    torch.autograd.grad(reference.square().sum(), list(paper.parameters())), strict=True):
        # Float-order differences only: 1.5e-5 on an AVX2 machine (oneDNN sums in another order than with
        # AVX-512); a wrong head would differ by the gradients' own size (about 1e-2).
        torch.testing.assert_close(a, b, atol=5e-5, rtol=1e-4)
    if spectral_norm:
        torch.testing.assert_close(d.head.parametrizations.weight[0]._u, paper.head.parametrizations.weight[0]._u)


def five_default_steps(fashion) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """The losses of five real steps of the default recipe from seed 0 and every weight and BatchNorm statistic
    after them. Minibatch discrimination is off: its layer's gradients start near zero, where Adam's first steps
    (about lr x the gradient's sign) turn float-order differences into whole steps (measured 2.3e-3 after five
    steps with it on); it sits after the layers compared, and the tests below check it alone."""
    from dcgan.config import TrainConfig
    from dcgan.training import Trainer

    config = TrainConfig(dataset="fashion-mnist", seed=0, steps=5, minibatch_discrimination=0)
    trainer = Trainer(config, data=fashion, write_files=False).setup()
    losses = [trainer.train_step(*trainer.next_batch()) for _ in range(5)]
    state = [t.detach().clone() for m in (trainer.G, trainer.D) for t in (*m.parameters(), *m.buffers())]
    return torch.stack([torch.stack([o["loss/D"], o["loss/G"]]) for o in losses]), state


def assert_same_training(fast, plain) -> None:
    """Two runs of five_default_steps that differ only in the order of floating-point sums: losses agree to 1e-5
    and every weight and BatchNorm statistic to 1e-4, a tenth of one Adam step at the default lr 1e-3."""
    torch.testing.assert_close(fast[0], plain[0], atol=1e-5, rtol=0)
    for a, b in zip(fast[1], plain[1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_the_training_step_is_unchanged_by_the_matrix_products(fashion, monkeypatch):
    """The convolution path against the matrix products (measured: 4e-7 in the losses, 1.1e-5 in the state)."""
    fast = five_default_steps(fashion)
    convolutions = []
    monkeypatch.setattr(models, "project",
                        lambda conv, x: convolutions.append(conv) or nn.ConvTranspose2d.forward(conv, x))
    monkeypatch.setattr(models, "dense_head", lambda conv, x: convolutions.append(conv) or nn.Conv2d.forward(conv, x))
    plain = five_default_steps(fashion)
    assert len(convolutions) == 5 * (1 + 2)  # each step: G once, D on real and fake joined, D in G's update
    assert_same_training(fast, plain)


@pytest.mark.parametrize(("batch", "conditional"), [(16, False), (20, False), (16, True)])
def test_a_joined_real_and_fake_batch_is_judged_as_two_passes_judge_them(batch, conditional):
    """D's update judges its real and fake batches in one pass (`parts=2`): BatchNorm normalises each with its own
    statistics and updates the running statistics real batch first, minibatch discrimination groups each alone
    (batch 20: two groups of 10 per part, not 16 + 4 across them). Against two passes: the same logits, the
    same gradients up to the order of floating-point sums (measured 2e-6 of the largest), the same statistics.
    Joint statistics over both batches (what a plain BatchNorm does with the joined batch) differ by ~1e-1."""
    torch.manual_seed(0)
    classes = {"num_classes": 10} if conditional else {}
    joined = Discriminator(28, 1, width=8, minibatch_kernels=12, **classes).to(memory_format=torch.channels_last)
    parts = copy.deepcopy(joined)
    x = torch.randn(2 * batch, 1, 28, 28)
    labels = torch.randint(10, (2 * batch,)) if conditional else None

    logits = joined(x, labels, parts=2)
    halves = [parts(x_half, y_half) for x_half, y_half in zip(x.chunk(2), labels.chunk(2) if conditional else [None] * 2)]
    torch.testing.assert_close(logits, torch.cat(halves), atol=1e-6, rtol=0)
    (logits ** 2).sum().backward()
    sum(((h ** 2).sum() for h in halves)).backward()
    for a, b in zip(joined.parameters(), parts.parameters(), strict=True):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-5 * b.grad.abs().max().item(), rtol=0)
    for a, b in zip(joined.buffers(), parts.buffers(), strict=True):
        torch.testing.assert_close(a, b, atol=1e-7, rtol=0)


def test_a_batchnorm_that_cannot_keep_joined_batches_apart_refuses_them():
    """--sync-batchnorm turns D's BatchNorms into SyncBatchNorm, which normalises whatever it is given as one batch:
    the step then passes D's batches one at a time, and a joined batch is refused rather than mixed."""
    d = nn.SyncBatchNorm.convert_sync_batchnorm(Discriminator(28, 1, width=8))
    with pytest.raises(ValueError, match="SyncBatchNorm cannot keep joined batches apart"):
        d(torch.randn(8, 1, 28, 28), parts=2)


def test_the_training_step_is_unchanged_by_joining_ds_real_and_fake_passes(fashion, monkeypatch):
    """The step's D update with its real and fake batches in one pass against two passes, one per batch (the step
    before; measured: 2.4e-7 in the losses, 6.4e-6 in the state)."""
    fast = five_default_steps(fashion)
    separate, joined = Discriminator.forward, []

    def two_passes(self, x, labels=None, parts=1):
        joined.append(parts)
        part_labels = labels.chunk(parts) if labels is not None else [None] * parts
        return torch.cat([separate(self, part, y) for part, y in zip(x.chunk(parts), part_labels)])

    monkeypatch.setattr(Discriminator, "forward", two_passes)
    plain = five_default_steps(fashion)
    assert joined == [2, 1] * 5  # each step: D's update joins its batches (the defaults' 16), G's update has one
    assert_same_training(fast, plain)


def test_minibatch_discrimination_differentiates_twice_without_cdists_own_derivative(monkeypatch):
    """R1 and gradient penalties differentiate D twice. Where PyTorch cannot differentiate cdist's backward (before
    about 2.13: the GPU image's 2.11 stopped `--r1` with NotImplementedError), the layer sums the distances itself,
    with no cdist while gradients are on: the same logits and the same gradients of R1 as cdist's, where it has
    them."""
    torch.manual_seed(0)
    d = Discriminator(28, 1, width=8, minibatch_kernels=12)
    x = torch.randn(6, 1, 28, 28)

    def logits_and_r1_gradients():
        real = x.clone().requires_grad_(True)
        logits = d(real)
        (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        return logits.detach(), torch.autograd.grad(grad.square().sum(), list(d.parameters()))

    with_cdist = logits_and_r1_gradients()
    d.minibatch.cdist_twice_differentiable = False  # what the layer asks cdist_twice_differentiable() at its start
    monkeypatch.setattr(torch, "cdist", lambda *a, **k: pytest.fail("cdist called"))
    summed = logits_and_r1_gradients()
    torch.testing.assert_close(summed[0], with_cdist[0], atol=1e-6, rtol=1e-5)
    for a, b in zip(summed[1], with_cdist[1], strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_noise_of_the_wrong_size_is_one_clear_error():
    g = Generator(28, 1, latent_dim=100, width=8)
    assert g(torch.randn(2, 100, 1, 1)).shape == (2, 1, 28, 28)  # the paper's code feeds z as a 1x1 map
    with pytest.raises(ValueError, match=r"z must be noise of shape \(batch, 100\) for this generator \(its "
                                         r"latent_dim\), got \(4, 50\)"):
        g(torch.randn(4, 50))
