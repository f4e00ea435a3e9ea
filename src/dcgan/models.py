"""DCGAN generator and discriminator (Radford et al. 2015, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", section 3 "Approach and model architecture").

The paper's guidelines, as built here:
- no pooling: strided convolutions in D, fractional-strided (transposed) convolutions in G;
- BatchNorm in both, except G's output layer and D's input layer;
- no fully connected hidden layers: z is projected by a transposed convolution, D ends in a convolution;
- ReLU in G with Tanh at the output, LeakyReLU(0.2) in D.
"""

from __future__ import annotations

import functools
import math

import torch
import torch.nn.functional as F
from torch import nn

from dcgan.errors import ConfigError

EMBED_DIM = 50  # size of a conditional G's class embedding, joined to z
MINIBATCH_KERNEL_DIM = 5  # C, the size of each minibatch-discrimination kernel's rows (Salimans et al. 2016 use 5)
MINIBATCH_GROUP = 16  # the most samples minibatch discrimination compares with each other (MinibatchDiscrimination)
MAX_WIDTH_MULT = 8  # widest layer = 8 x width, as in the paper's 64x64 model (1024 -> 512 for width 64 here)


def stages(image_size: int) -> tuple[int, int]:
    """(side of the first feature map, number of stride-2 resolution doublings) for an image size.

    28 = 7 * 2 * 2 starts from 7x7 (the MNIST family's native size); powers of two start from 4x4.
    """
    if image_size == 28:
        return 7, 2
    if image_size >= 16 and image_size & (image_size - 1) == 0 and image_size <= 256:
        return 4, int(math.log2(image_size)) - 2
    raise ConfigError(f"image size {image_size} is not supported: use 28 or a power of two from 16 to 256")


def _widths(width: int, doublings: int) -> list[int]:
    """Channels of the hidden maps from the smallest (first in G) to the largest: w*2^(n-1), ..., 2w, w."""
    return [width * min(2 ** i, MAX_WIDTH_MULT) for i in reversed(range(doublings))]


class Generator(nn.Module):
    """z (B, latent_dim) [+ class labels (B,)] -> image (B, channels, S, S) in [-1, 1]."""

    def __init__(self, image_size: int = 64, channels: int = 3, latent_dim: int = 100, width: int = 64,
                 num_classes: int = 0):
        super().__init__()
        start, doublings = stages(image_size)
        self.image_size, self.channels, self.latent_dim, self.num_classes = image_size, channels, latent_dim, num_classes
        # Conditional: a learned class embedding joined to z (Mirza & Osindero 2014, section 4.1).
        self.embed = nn.Embedding(num_classes, EMBED_DIM) if num_classes else None
        z_channels = latent_dim + (EMBED_DIM if num_classes else 0)
        widths = _widths(width, doublings)  # 64x64, width 64: [512, 256, 128, 64]
        # Project z to the first map with a transposed conv from 1x1 (the paper's "project and reshape").
        layers: list[nn.Module] = [
            ConvTranspose2d(z_channels, widths[0], start, 1, 0, bias=False),  # (B, 8w, 4, 4)
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(True),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),  # doubles H and W
                nn.BatchNorm2d(c_out),
                nn.ReLU(True),
            ]
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1, bias=False), nn.Tanh()]  # (B, C, S, S)
        self.main = nn.Sequential(*layers)
        init_weights(self)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                embedding: torch.Tensor | None = None) -> torch.Tensor:
        return self.main(self.input_map(z, labels, embedding))

    def input_map(self, z: torch.Tensor, labels: torch.Tensor | None = None,
                  embedding: torch.Tensor | None = None) -> torch.Tensor:
        """What `main` starts from: z (and a conditional G's class embedding) as a 1x1 map (B, Z, 1, 1).
        `embedding` (B, EMBED_DIM) instead of labels joins any point of the embedding space, e.g. one between
        two classes'."""
        if z.shape[1:] not in ((self.latent_dim,), (self.latent_dim, 1, 1)):
            raise ValueError(f"z must be noise of shape (batch, {self.latent_dim}) for this generator (its "
                             f"latent_dim), got {tuple(z.shape)}")
        if self.embed is not None:
            if labels is None and embedding is None:
                raise ValueError("this generator is conditional: pass class labels")
            e = self.embed(labels) if embedding is None else embedding.to(z.dtype)
            z = torch.cat([z, e], dim=1)  # (B, latent_dim + EMBED_DIM)
        return z.view(z.shape[0], -1, 1, 1)


class Discriminator(nn.Module):
    """image (B, channels, S, S) [+ class labels (B,)] -> logit (B,). The sigmoid is left to the loss."""

    def __init__(self, image_size: int = 64, channels: int = 3, width: int = 64, norm: str = "batch",
                 spectral_norm: bool = False, dropout: float = 0.0, num_classes: int = 0,
                 conditioning: str = "projection", minibatch_kernels: int = 0):
        super().__init__()
        start, doublings = stages(image_size)
        self.image_size, self.channels, self.num_classes = image_size, channels, num_classes
        self.conditioning = conditioning if num_classes else None
        wrap = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        widths = _widths(width, doublings)[::-1]  # 64x64, width 64: [64, 128, 256, 512]
        # Concat conditioning: one-hot label maps joined to the image as extra input channels.
        in_channels = channels + (num_classes if self.conditioning == "concat" else 0)

        def act() -> list[nn.Module]:
            return [nn.LeakyReLU(0.2, True)] + ([nn.Dropout(dropout)] if dropout else [])

        blocks: list[nn.Module] = [
            # No normalisation on D's input layer (section 3: it caused sample oscillation and instability).
            nn.Sequential(wrap(nn.Conv2d(in_channels, widths[0], 4, 2, 1, bias=False)), *act()),
        ]
        for c_in, c_out in zip(widths, widths[1:]):
            blocks.append(nn.Sequential(
                wrap(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=norm == "none")),  # halves H and W
                *_norm_layer(norm, c_out),
                *act(),
            ))
        self.blocks = nn.ModuleList(blocks)
        # Minibatch discrimination (Salimans et al. 2016, section 3.2): how close a sample's pooled features are
        # to the rest of its batch's, as extra channels of the last map, lets D see a batch of near-copies.
        self.minibatch = wrap(MinibatchDiscrimination(widths[-1], minibatch_kernels)) if minibatch_kernels else None
        head_in = widths[-1] + minibatch_kernels
        self.head = wrap(Conv2d(head_in, 1, start, 1, 0, bias=False))  # (B, 1, 1, 1): one logit per image
        # Projection conditioning (Miyato & Koyama 2018, eq. 3): logit += <embed(y), sum-pooled features>.
        self.project = (wrap(nn.Embedding(num_classes, widths[-1])) if self.conditioning == "projection"
                        else None)
        init_weights(self)

    def _condition_input(self, x: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        if self.conditioning is None:
            return x
        if labels is None:
            raise ValueError("this discriminator is conditional: pass class labels")
        if self.conditioning == "concat":
            maps = F.one_hot(labels, self.num_classes).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, maps.expand(-1, -1, x.shape[2], x.shape[3])], dim=1)  # (B, C + classes, H, W)
        return x

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None, parts: int = 1) -> torch.Tensor:
        """Logits (B,). `parts` > 1: x is that many equal batches joined (D's real and fake images of one update),
        judged as separate passes would judge them; see `logits_and_features`."""
        return self.logits_and_features(x, labels, parts)[0]

    def logits_and_features(self, x: torch.Tensor, labels: torch.Tensor | None = None, parts: int = 1
                            ) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits (B,), the last block's activation (B, C, H, W)): one pass for feature matching.

        `parts`: x (and labels) are `parts` equal batches joined along the batch. The batch-wise layers keep them
        apart: BatchNorm normalises each part with its own statistics and updates its running statistics part
        after part, minibatch discrimination compares samples within a part; every other layer works per
        sample. So one pass computes what `parts` passes compute, with BatchNorm as the paper's code trains D: real
        and generated images in separate batches, each normalised with its own statistics (a batch mixing them
        would let each half's statistics leak into the other's normalisation). Fewer, larger operations: the
        defaults' step is faster on a CPU (docs/performance.md). Under spectral norm the pass makes one power
        iteration where separate passes made one each."""
        x = self._condition_input(x, labels)
        for block in self.blocks:
            for layer in block:
                if parts > 1 and isinstance(layer, nn.modules.batchnorm._BatchNorm):
                    if not isinstance(layer, BatchNorm2d):  # e.g. SyncBatchNorm: it would mix the parts
                        raise ValueError(f"{type(layer).__name__} cannot keep joined batches apart: pass each alone")
                    x = layer(x, parts)
                else:
                    x = layer(x)
        features = x  # (B, 8w, 4, 4) at 64x64
        # Minibatch discrimination's (B, kernels), from the spatially pooled features (B, 8w), joins the last map
        # as extra channels, each constant over it.
        o = self.minibatch(x.mean(dim=(2, 3)), parts) if self.minibatch is not None else None
        logit = self.head(x, o).flatten()  # (B,)
        if self.project is not None:
            logit = logit + (self.project(labels) * features.sum(dim=(2, 3))).sum(dim=1)
        return logit, features


class MinibatchDiscrimination(nn.Module):
    """Salimans et al. 2016, section 3.2: features f(x_i) (N, A) -> o(x_i) (N, B), B = kernels. As in their
    CIFAR-10 code, f is D's last feature map averaged over space (A = its channels).

    M_i = f(x_i) T reshaped to (B, C); c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_L1); o(x_i)_b is the paper's
    sum_j c_b(x_i, x_j) over the other samples j, divided here by their number: a mean in [0, 1] whose scale does
    not depend on the batch size (the sum of 127 others would swamp D's head, which their code offsets with a
    data-dependent bias). A batch of near-copies (mode collapse) has o near 1 for every sample, a varied real
    batch does not, so D can reject it and G is pushed to spread out. `weight` is the paper's tensor T as a
    (B*C, A) matrix, so the usual init and spectral norm apply to it.

    The others are those of the sample's group: the batch split into ceil(N / group) groups of at most `group`
    samples (MINIBATCH_GROUP = 16, the defaults' whole batch), as StyleGAN's minibatch standard deviation
    compares groups of 4 (Karras et al. 2018, section 3). Pairs grow with the square of the batch, and at batch
    128 comparing the whole batch made the training step 2.2-2.9x slower; in groups its cost per image stays
    about that of batch 16 (docs/performance.md). A mean over 15 others estimates the same closeness as one over
    127, more noisily.
    """

    def __init__(self, in_features: int, kernels: int, kernel_dim: int = MINIBATCH_KERNEL_DIM,
                 group: int | None = None):
        super().__init__()
        self.kernels, self.kernel_dim = kernels, kernel_dim
        self.group = group or MINIBATCH_GROUP
        self.weight = nn.Parameter(torch.empty(kernels * kernel_dim, in_features))
        nn.init.normal_(self.weight, 0.0, 0.02)
        # Asked here, not in forward: torch.compile (--compile) would trace the probe and warn about its cache.
        self.cdist_twice_differentiable = cdist_twice_differentiable()

    def forward(self, f: torch.Tensor, parts: int = 1) -> torch.Tensor:
        """`parts`: f is that many equal batches joined (Discriminator.logits_and_features); each is grouped alone."""
        m = F.linear(f, self.weight).float().view(-1, self.kernels, self.kernel_dim)  # (N, B, C)
        groups = -(-(m.shape[0] // parts) // self.group)  # per part
        if m.shape[0] % (parts * groups) == 0:  # equal groups: one call for all of them
            return closeness(m.view(parts * groups, -1, self.kernels, self.kernel_dim),
                             self.cdist_twice_differentiable).flatten(0, 1)
        return torch.cat([closeness(group[None], self.cdist_twice_differentiable)[0]
                          for part in m.chunk(parts) for group in part.tensor_split(groups)])


def closeness(m: torch.Tensor, cdist_twice_differentiable: bool = True) -> torch.Tensor:
    """Minibatch discrimination's o within each group: (G, n, B, C) rows M -> (G, n, B), the mean over the n - 1
    others of the group of exp(-L1 distance) per kernel. `cdist_twice_differentiable`: this PyTorch's answer
    (the function of that name)."""
    groups, n, kernels, _ = m.shape
    rows = m.permute(0, 2, 1, 3).flatten(0, 1)  # (G*B, n, C)
    # (G*B, n, n): L1 distance between the rows of every pair. cdist's backward treats its two arguments apart,
    # twice the work (and one thread at these shapes); the matrix is symmetric, so one argument is detached and
    # the transpose added: the value is the same, bit for bit (d + d - d), and each pair's distance gets the
    # gradient of both its uses through one backward: the step 1.11x faster at batch 16, 1.06x at 32 (medians,
    # docs/performance.md).
    if torch.is_grad_enabled() and not cdist_twice_differentiable:
        # R1 and gradient penalties differentiate D twice; cdist's backward has no derivative before PyTorch
        # 2.13 or so (on the GPU image's 2.11, `--r1` stopped with NotImplementedError), the broadcast sum has one.
        distance = (rows[:, :, None] - rows.detach()[:, None]).abs().sum(dim=3)
    else:
        distance = torch.cdist(rows, rows.detach(), p=1)
    distance = distance + distance.transpose(1, 2) - distance.detach()
    o = (torch.exp(-distance).sum(dim=2) - 1) / max(n - 1, 1)  # -1 leaves out c_b(x_i, x_i) = 1
    return o.view(groups, kernels, n).transpose(1, 2)


@functools.cache
def cdist_twice_differentiable() -> bool:
    """Whether this PyTorch differentiates cdist's own backward (asked once, on a 1x2 input)."""
    x = torch.ones(1, 2, 1, requires_grad=True)
    try:
        (grad,) = torch.autograd.grad(torch.cdist(x, x.detach(), p=1).sum(), x, create_graph=True)
        grad.sum().backward()
        return True
    except (NotImplementedError, RuntimeError):
        return False


def project(conv: nn.ConvTranspose2d, x: torch.Tensor) -> torch.Tensor:
    """G's first layer on z as a 1x1 map (B, Z, 1, 1) -> (B, C, k, k): a transposed convolution whose input is one
    pixel is a matrix product, (B, Z) @ (Z, C*k*k), "just a matrix multiplication, but the result is reshaped into a
    4-dimensional tensor" (Radford et al. 2015, section 3). Computed as one it is about 3x faster on a CPU than
    oneDNN's deconvolution, which also converts the weight's layout on every call (docs/performance.md, "The small
    networks"). The weight stays the layer's own, so checkpoints and every other reader of the layer are unchanged;
    the output keeps the weight's memory layout, as the convolution's does."""
    if (x.shape[2:] != (1, 1) or conv.stride != (1, 1) or conv.padding != (0, 0) or conv.output_padding != (0, 0)
            or conv.dilation != (1, 1) or conv.groups != 1 or conv.bias is not None):
        return nn.ConvTranspose2d.forward(conv, x)
    w = conv.weight  # (Z, C, k, k)
    z_dim, c, kh, kw = w.shape
    if not w.is_contiguous() and w.is_contiguous(memory_format=torch.channels_last):  # stored as (Z, k, k, C)
        return (x.flatten(1) @ w.permute(0, 2, 3, 1).reshape(z_dim, -1)).view(-1, kh, kw, c).permute(0, 3, 1, 2)
    return (x.flatten(1) @ w.reshape(z_dim, -1)).view(-1, c, kh, kw)


def dense_head(conv: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """D's last layer, one logit per image (B, C, k, k) -> (B, 1, 1, 1): a convolution whose kernel covers its whole input
    is a dot product of the flattened map with the flattened kernel ("the last convolution layer is flattened and
    then fed into a single sigmoid output", Radford et al. 2015, figure 1's text), computed as the matrix product
    it is; about 2.5x faster on a CPU than the convolution at the small networks' sizes (docs/performance.md)."""
    if (conv.out_channels != 1 or tuple(x.shape[1:]) != (conv.in_channels, *conv.kernel_size)
            or conv.stride != (1, 1) or conv.padding != (0, 0) or conv.dilation != (1, 1) or conv.groups != 1
            or conv.bias is not None):
        return nn.Conv2d.forward(conv, x)
    # The weight is read once, as the convolution does (under spectral norm each read is a step).
    return dense_logits(x, conv.weight).view(-1, 1, 1, 1)


def dense_logits(x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """(B, C, k, k) maps and one (1, C, k, k) kernel covering them -> (B,) dot products, in the maps' layout."""
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):  # (B, k, k, C) in memory
        x, w = x.permute(0, 2, 3, 1), w.permute(0, 2, 3, 1)
    return (x.reshape(x.shape[0], -1) @ w.reshape(-1, 1)).flatten()


class ConvTranspose2d(nn.ConvTranspose2d):
    """torch's transposed convolution that computes a 1x1 input as the matrix product it is (`project`): G's first
    layer. Same parameters, state_dict, hooks and name as nn.ConvTranspose2d, so checkpoints, the architecture
    table and the memory estimate see the layer they always did."""

    def forward(self, x: torch.Tensor, output_size: list[int] | None = None) -> torch.Tensor:
        return project(self, x) if output_size is None else super().forward(x, output_size)


class Conv2d(nn.Conv2d):
    """torch's convolution that computes a kernel covering its whole input as a matrix product (`dense_head`):
    D's head. Same parameters, state_dict, hooks and name as nn.Conv2d."""

    def forward(self, x: torch.Tensor, constant: torch.Tensor | None = None) -> torch.Tensor:
        """`constant` (B, K): K more input channels after x's, each constant over the map (minibatch
        discrimination's), given as their values. The kernel's weights on such a channel act through their sum
        over the map, so the logit is the head on x plus constant @ those sums, without building the
        (B, C + K, k, k) input (1.1 ms of a 13.7 ms default step, one thread; same logits within 1e-5)."""
        if constant is None:
            return dense_head(self, x)
        w = self.weight  # read once: under spectral norm each read is a power-iteration step
        c = x.shape[1]
        return (dense_logits(x, w[:, :c]) + constant.to(x.dtype) @ w[0, c:].sum(dim=(1, 2))).view(-1, 1, 1, 1)


class BatchNorm2d(nn.BatchNorm2d):
    """torch's BatchNorm that can take a batch of `parts` equal batches joined and normalise each with its own
    statistics, updating the running statistics part after part, as that many calls would (D's real and fake
    images in one pass: Discriminator.logits_and_features). Same parameters, state_dict and name as
    nn.BatchNorm2d."""

    def forward(self, x: torch.Tensor, parts: int = 1) -> torch.Tensor:
        normalise = super().forward
        if parts == 1 or not self.training:  # running statistics normalise every sample alike
            return normalise(x)
        return torch.cat([normalise(part) for part in x.chunk(parts)])


def _norm_layer(norm: str, channels: int) -> list[nn.Module]:
    """D's normalisation after its first layer. Layer norm over (C, H, W) is GroupNorm with one group."""
    if norm == "batch":
        return [BatchNorm2d(channels)]
    if norm == "instance":
        return [nn.InstanceNorm2d(channels, affine=True)]
    if norm == "layer":
        return [nn.GroupNorm(1, channels)]
    if norm == "none":
        return []
    raise ConfigError(f"unknown normalisation {norm!r}: use batch, instance, layer or none")


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for conv weights, N(1, 0.02) for BatchNorm gamma, zero beta (Radford et al. 2015, section 4)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding, MinibatchDiscrimination)):
            # Under spectral norm, `weight` is computed from the stored `original`: initialise that.
            parametrized = nn.utils.parametrize.is_parametrized(m, "weight")
            nn.init.normal_(m.parametrizations.weight.original if parametrized else m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and m.weight is not None:
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def build_generator(config) -> Generator:
    """G for a resolved TrainConfig."""
    classes = config.num_classes if config.conditional else 0
    return Generator(config.image_size, config.channels, config.latent_dim, config.g_width, classes or 0)


def build_discriminator(config) -> Discriminator:
    """D for a resolved TrainConfig."""
    classes = config.num_classes if config.conditional else 0
    return Discriminator(config.image_size, config.channels, config.d_width, norm=config.d_norm,
                         spectral_norm=config.spectral_norm, dropout=config.d_dropout, num_classes=classes or 0,
                         conditioning=config.d_conditioning, minibatch_kernels=config.minibatch_discrimination)
