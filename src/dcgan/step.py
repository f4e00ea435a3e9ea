"""One training step's maths: D's updates and G's update of a DCGAN, with the objective's penalties, DiffAugment,
instance noise, the learning-rate schedule and the moving average of G. No I/O, no events: the trainer
(dcgan.training) builds it in its setup, calls it once a step, reports what it returns and checkpoints its state:

    out = trainer.gan_step(real, labels, step=0, total_steps=1000)   # 0-dim tensors: loss/D, loss/G, D/real, ...

On a CUDA GPU the step is captured once in a CUDA graph and replayed (`cuda_graph`): the small networks' step is
a few hundred kernel launches of microseconds each, which a replay issues in one call (docs/performance.md).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Any, Callable

import torch
from torch import nn

from dcgan.augment import diff_augment
from dcgan.config import TrainConfig
from dcgan.distributed import World
from dcgan.errors import first_line
from dcgan.losses import Objective, feature_matching, gradient_penalty, r1_penalty
from dcgan.vocabulary import (D_FAKE, D_FAKE_AFTER_G, D_FAKE_BEFORE_G, D_REAL, GRADIENT_PENALTY, LOSS_D, LOSS_G,
                              R1_PENALTY, W_DISTANCE)

# D's update judges its real and fake batches in one pass up to this batch size, in two above it. The joined pass
# has half the operations; small batches are where their fixed costs dominate the step. On CPUs (2 threads, 28x28,
# widths 32, `python scripts/ab_step.py --variants default separate-passes --threads 2 --batch-size B`): batch 16
# 1.06-1.18x on AVX2, 1.06-1.09x and 0.99x on two AVX512 kinds; batch 24 1.0x, batch 32 0.87-0.93x
# (docs/performance.md).
JOINED_PASS_MAX_BATCH = 16


@dataclass(eq=False)
class GanStep:
    """The networks, their optimisers and the noise stream, and the step that updates them. `config` is the
    trainer's own object: a live change made there applies from the next call."""

    config: TrainConfig
    G: nn.Module  # the networks themselves: penalties, the EMA, single steps' BatchNorm statistics
    D: nn.Module
    G_train: nn.Module  # what trains: the gradient-averaging process wrappers of G and D (G and D in one process)
    D_train: nn.Module
    opt_G: torch.optim.Optimizer
    opt_D: torch.optim.Optimizer
    G_ema: nn.Module | None  # the moving average of G's weights (--ema), or None
    objective: Objective
    noise_gen: torch.Generator  # z, fake classes, augmentations and instance noise: one stream from the seed
    world: World
    device: torch.device
    autocast: torch.autocast
    lr_scale: float  # the learning rates' multiplier for the process count (--lr-scaling)
    augmentations: list[str]  # DiffAugment's policy
    cuda_graph: bool = False  # capture the step in a CUDA graph (CUDA, one process, not compiled: the trainer says)
    on_graph_failure: Callable[[str], None] = lambda why: None  # told once if a capture fails (eager from then on)
    _graph: "CapturedStep | None" = field(default=None, init=False)
    _last_noise: tuple[torch.Tensor, torch.Tensor | None] | None = field(default=None, init=False)  # z, y of G's
    learning_rates: tuple[float, float] = field(default=(0.0, 0.0), init=False)  # G's and D's at the last step

    def __call__(self, real: torch.Tensor, labels: torch.Tensor | None, step: int, total_steps: int,
                 with_after: bool = False, parts: str = "dg") -> dict[str, torch.Tensor]:
        """d_steps D updates then one G update, at `step` of `total_steps` (the schedules' position). `real` holds
        d_steps batches (d_steps*B, C, H, W) in [-1, 1], `labels` their classes for a conditional run. `parts`
        "d" or "g" runs only D's or G's updates (the dashboard's single steps).

        Returns 0-dim tensors (no host sync) named in dcgan.vocabulary: loss/D, loss/G, D/real, D/fake (D's view
        of the fakes in its last update), D/fake_before_G (the G update's view, after D's update), with
        `with_after` D/fake_after_G (after G's update, on un-augmented inputs), and the penalties or the
        Wasserstein estimate when used.
        """
        self.apply_schedules(step, total_steps)
        if parts == "dg" and self.cuda_graph and self.G_ema is None and self.config.instance_noise == 0:
            out = self._replayed(real, labels, step, total_steps)
        else:  # the moving average and the instance noise change with the step: not in a graph
            out = self._updates(real, labels, step, total_steps, parts)
        if with_after and "g" in parts:
            # D(G(z)) with the updated G on the same z; BatchNorm running statistics are left untouched.
            z, y_fake = self._last_noise
            with torch.no_grad(), frozen_batchnorm_stats(self.G, self.D), self.autocast:
                out[D_FAKE_AFTER_G] = torch.sigmoid(self.D(self.G(z, y_fake), y_fake)).mean()
        return out

    def _replayed(self, real: torch.Tensor, labels: torch.Tensor | None, step: int,
                  total_steps: int) -> dict[str, torch.Tensor]:
        """The updates through the captured graph, captured again when what it holds fixed changes (the batch's
        shape, a live change of d_steps or label smoothing); eager from a failed capture on, said once."""
        key = (tuple(real.shape), labels is not None, self.config.d_steps, self.config.label_smoothing)
        if self._graph is None or self._graph.key != key:
            self._graph = None  # the old graph's memory goes back before the new one takes its own
            # The step number sets only what keeps a step out of a graph (the EMA's warm-up, the noise's annealing).
            self._graph = CapturedStep(key, lambda x, y: self._updates(x, y, step, total_steps, "dg"),
                                       self.noise_gen, (self.opt_G, self.opt_D), self.device)
        try:
            return self._graph(real, labels)
        except CaptureFailed as e:
            self.cuda_graph, self._graph = False, None
            self.on_graph_failure(str(e))
            return self._updates(real, labels, step, total_steps, "dg")

    def _updates(self, real: torch.Tensor, labels: torch.Tensor | None, step: int, total_steps: int,
                 parts: str) -> dict[str, torch.Tensor]:
        """The step's updates (see __call__): what a CUDA graph captures."""
        cfg, G, D = self.config, self.G_train, self.D
        sigma = cfg.instance_noise * max(0.0, 1 - step / total_steps)  # annealed to 0
        reals = real.chunk(cfg.d_steps)
        real_labels = labels.chunk(cfg.d_steps) if labels is not None else [None] * cfg.d_steps
        out: dict[str, torch.Tensor] = {}

        # Update D (d_steps times): e.g. maximise log D(x) + log(1 - D(G(z))). Only the last fake batch keeps
        # its graph: one G forward then serves G's update too.
        # A single D or G step leaves the other network untouched, BatchNorm statistics included.
        keep_g = (lambda: frozen_batchnorm_stats(self.G)) if "g" not in parts else contextlib.nullcontext
        keep_d = (lambda: frozen_batchnorm_stats(self.D)) if "d" not in parts else contextlib.nullcontext
        for k, (x, y) in enumerate(zip(reals, real_labels)):
            z, y_fake = self._noise(x.shape[0])
            with torch.set_grad_enabled(k == cfg.d_steps - 1 and "g" in parts), self.autocast, keep_g():
                fake = G(z, y_fake)  # (B, C, H, W)
            if "d" in parts:
                out.update(self._update_d(x, y, fake.detach(), y_fake, sigma))
        if "g" not in parts:
            return out

        # Update G: e.g. maximise log D(G(z)) (non-saturating). D's weights need no gradients here, so D runs
        # unwrapped: its gradient-averaging wrapper would wait for gradients that never come.
        D.requires_grad_(False)
        with keep_d():  # restored after the backward pass, which reads the statistics' tensors
            with self.autocast:
                if cfg.feature_matching:
                    # Feature matching (Salimans et al. 2016, section 3.1): G matches the mean of D's last hidden
                    # features on the step's real batch instead of fooling D's output.
                    fake_logits, fake_features = D.logits_and_features(self._d_input(fake, sigma), y_fake)
                    with torch.no_grad():
                        real_features = D.logits_and_features(self._d_input(x, sigma), y)[1]
                    fake_logits, loss_G = fake_logits.float(), feature_matching(real_features, fake_features)
                else:
                    fake_logits = D(self._d_input(fake, sigma), y_fake).float()
                    loss_G = self.objective.g_loss(fake_logits)
            self.opt_G.zero_grad(set_to_none=True)
            loss_G.backward()
            self.opt_G.step()
        D.requires_grad_(True)
        if self.G_ema is not None:
            update_ema(self.G_ema, self.G, cfg.ema, step)

        out[LOSS_G] = loss_G.detach()
        out[D_FAKE_BEFORE_G] = torch.sigmoid(fake_logits.detach()).mean()
        self._last_noise = (z, y_fake)
        return out

    def _update_d(self, real: torch.Tensor, labels: torch.Tensor | None, fake: torch.Tensor,
                  fake_labels: torch.Tensor | None, sigma: float) -> dict[str, torch.Tensor]:
        """One D update on a real and a fake batch: the objective's D loss plus the penalties in use."""
        cfg, D = self.config, self.D_train
        x_real, x_fake = self._d_input(real, sigma), self._d_input(fake, sigma)
        if cfg.r1:
            x_real = x_real.detach().requires_grad_(True)
        out = {}
        with self.autocast:
            if x_real.shape[0] <= JOINED_PASS_MAX_BATCH and not cfg.sync_batchnorm:
                # One D pass over both batches, each still normalised alone (Discriminator.logits_and_features;
                # SyncBatchNorm, which normalises over all processes' batches, cannot keep them apart).
                joined_labels = torch.cat([labels, fake_labels]) if labels is not None else None
                real_logits, fake_logits = D(torch.cat([x_real, x_fake]), joined_labels, parts=2).float().chunk(2)
            else:
                real_logits, fake_logits = D(x_real, labels).float(), D(x_fake, fake_labels).float()
            loss_D = self.objective.d_loss(real_logits, fake_logits, 1.0 - cfg.label_smoothing)
            if self.objective.gradient_penalty:
                gp = gradient_penalty(lambda x: self.D(x, labels), x_real.detach(), x_fake, self.noise_gen)
                loss_D = loss_D + cfg.gp_weight * gp
                out[GRADIENT_PENALTY] = gp.detach()
                out[W_DISTANCE] = (real_logits - fake_logits).detach().mean()
            if cfg.r1:
                r1 = r1_penalty(real_logits, x_real)
                loss_D = loss_D + cfg.r1 / 2 * r1
                out[R1_PENALTY] = r1.detach()
        self.opt_D.zero_grad(set_to_none=True)
        loss_D.backward()
        self.opt_D.step()
        out[LOSS_D] = loss_D.detach()
        out[D_REAL] = torch.sigmoid(real_logits.detach()).mean()
        out[D_FAKE] = torch.sigmoid(fake_logits.detach()).mean()
        return out

    def _noise(self, count: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """z ~ N(0, I) (count, latent_dim) and, for a conditional run, uniformly drawn classes. Every process
        draws the global batch's noise and keeps its own slice: N processes see the noise one would."""
        total, mine = count * self.world.size, slice(self.world.rank * count, (self.world.rank + 1) * count)
        z = torch.randn(total, self.config.latent_dim, device=self.device, generator=self.noise_gen)[mine]
        if not self.config.conditional:
            return z, None
        y = torch.randint(self.config.num_classes, (total,), device=self.device, generator=self.noise_gen)
        return z, y[mine]

    def _d_input(self, x: torch.Tensor, sigma: float) -> torch.Tensor:
        """What D sees: DiffAugment's transforms (Zhao et al. 2020), then instance noise (Sonderby et al. 2016)."""
        if self.augmentations:
            x = diff_augment(x, self.augmentations, self.noise_gen)
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, device=x.device, dtype=x.dtype, generator=self.noise_gen)
        return x

    def apply_schedules(self, step: int, total_steps: int) -> None:
        """Set both learning rates for this step from the schedule (a function of the step alone, so a resumed
        run continues the same curve)."""
        factor = lr_factor(self.config.lr_schedule, step, total_steps) * self.lr_scale
        self.learning_rates = (self.config.lr_g * factor, self.config.lr_d * factor)
        for opt, lr in zip((self.opt_G, self.opt_D), self.learning_rates):
            for group in opt.param_groups:
                if isinstance(group["lr"], torch.Tensor):
                    group["lr"].fill_(lr)  # a captured step reads its rate from the device
                else:
                    group["lr"] = lr

    # --- State ----------------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The networks', optimisers' and random streams' part of a checkpoint (dcgan.checkpoint's layout)."""
        rng = {"torch": torch.get_rng_state(), "noise": self.noise_gen.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        return {"G": self.G.state_dict(), "D": self.D.state_dict(),
                "opt_G": eager_optimizer_state(self.opt_G), "opt_D": eager_optimizer_state(self.opt_D), "rng": rng,
                **({"G_ema": self.G_ema.state_dict()} if self.G_ema is not None else {})}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what state_dict saved; Adam's betas stay this config's (a fork may change them). Raises
        KeyError, RuntimeError or ValueError for a checkpoint of other networks."""
        self.G.load_state_dict(state["G"])
        self.D.load_state_dict(state["D"])
        self._graph = None  # Adam's state is new tensors now: a graph would update the old ones
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        if self.G_ema is not None:  # a fork that turns EMA on starts the average from G
            self.G_ema.load_state_dict(state.get("G_ema", state["G"]))
        torch.set_rng_state(state["rng"]["torch"])
        try:
            self.noise_gen.set_state(state["rng"]["noise"])
        except (RuntimeError, TypeError):
            pass  # resumed on another kind of device: its noise stream starts again from the seed
        if self.device.type == "cuda" and "cuda" in state["rng"]:
            torch.cuda.set_rng_state(state["rng"]["cuda"], self.device)
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["betas"] = (self.config.beta1, self.config.beta2)

    @torch.no_grad()
    def weights_finite(self) -> bool:
        """All weights and BatchNorm statistics of G, D (and the EMA G) are finite: one host sync."""
        modules = [m for m in (self.G, self.D, self.G_ema) if m is not None]
        tensors = [t for m in modules for t in (*m.parameters(), *m.buffers()) if t.is_floating_point()]
        return bool(torch.stack([torch.isfinite(t).all() for t in tensors]).all())


def lr_factor(schedule: str, step: int, total: int) -> float:
    """Multiplier of the base learning rate at a step: constant 1, linear decay to 0, or half a cosine."""
    progress = min(step / max(total, 1), 1.0)
    if schedule == "linear":
        return 1.0 - progress
    if schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * progress))
    return 1.0


def eager_optimizer_state(opt: torch.optim.Optimizer) -> dict[str, Any]:
    """An optimiser's state_dict as an eager step keeps it: a captured step's learning rates (device tensors) as
    numbers and `capturable` off, so a checkpoint reads the same on every device and in every mode."""
    state = opt.state_dict()
    state["param_groups"] = [{**group, "capturable": False, "lr": float(group["lr"])}
                             for group in state["param_groups"]]
    return state


class CapturedStep:
    """A step's updates captured in one CUDA graph and replayed on each new batch (PyTorch's whole-network capture):
    first WARMUP eager steps on a side stream (cuDNN chooses its algorithms, Adam makes its state), then the capture,
    with Adam capturable and its learning rates as device tensors (apply_schedules fills them before each replay)
    and the noise stream registered with the graph, so each replay draws the next noise from it as an eager step
    does: the same losses and weights as eager steps (scripts/cuda_graph_step.py checks it on a GPU). Each call
    copies the batch into the graph's input; the outputs are copied out, since the next replay overwrites them."""

    WARMUP = 3

    def __init__(self, key: tuple, update: Callable, noise_gen: torch.Generator,
                 optimizers: tuple[torch.optim.Optimizer, ...], device: torch.device):
        self.key, self.update, self.noise_gen, self.optimizers, self.device = key, update, noise_gen, optimizers, device
        self.warmups, self.graph = 0, None

    def __call__(self, real: torch.Tensor, labels: torch.Tensor | None) -> dict[str, torch.Tensor]:
        if self.warmups < self.WARMUP:
            self.warmups += 1
            main, side = torch.cuda.current_stream(self.device), torch.cuda.Stream(self.device)
            side.wait_stream(main)
            with torch.cuda.stream(side):
                out = self.update(real, labels)
            main.wait_stream(side)
            return out
        if self.graph is None:
            self._capture(real, labels)
        self.real.copy_(real)
        if labels is not None:
            self.labels.copy_(labels)
        self.graph.replay()
        return dict(zip(self.names, self.outputs.clone().unbind()))

    def _capture(self, real: torch.Tensor, labels: torch.Tensor | None) -> None:
        for opt in self.optimizers:
            for group in opt.param_groups:
                group["capturable"] = True
                if not isinstance(group["lr"], torch.Tensor):
                    group["lr"] = torch.tensor(group["lr"], dtype=torch.float32, device=self.device)
            opt.zero_grad(set_to_none=True)  # the gradients are allocated in the graph's memory
        self.real = real.clone()  # clone keeps the layout (channels_last)
        self.labels = labels.clone() if labels is not None else None
        try:
            graph = torch.cuda.CUDAGraph()
            graph.register_generator_state(self.noise_gen)  # PyTorch 2.6 and later
            with torch.cuda.graph(graph):
                out = self.update(self.real, self.labels)
                self.names, self.outputs = list(out), torch.stack([v.float() for v in out.values()])
        except (RuntimeError, AttributeError) as e:  # an operation a graph cannot hold (a host sync), an old torch
            raise CaptureFailed(first_line(e)) from e
        self.graph = graph


class CaptureFailed(Exception):
    """The step could not be captured in a CUDA graph; the message says why."""


@torch.no_grad()
def update_ema(ema: nn.Module, model: nn.Module, decay: float, step: int) -> None:
    """ema <- d * ema + (1 - d) * model, with d warmed up as min(decay, (1 + t) / (10 + t)) so early averages
    are not dominated by the random initialisation; BatchNorm statistics are copied."""
    d = min(decay, (1 + step) / (10 + step))
    for p_ema, p in zip(ema.parameters(), model.parameters()):
        p_ema.lerp_(p, 1 - d)
    for b_ema, b in zip(ema.buffers(), model.buffers()):
        b_ema.copy_(b)


@contextlib.contextmanager
def frozen_batchnorm_stats(*modules: nn.Module):
    """Run train-mode forwards without changing BatchNorm running statistics."""
    buffers = [b for m in modules for layer in m.modules() if isinstance(layer, nn.modules.batchnorm._BatchNorm)
               for b in layer.buffers()]
    saved = [b.clone() for b in buffers]
    try:
        yield
    finally:
        for b, s in zip(buffers, saved):
            b.copy_(s)
