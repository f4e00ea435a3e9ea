"""Training techniques (issue 5): each objective and stabiliser on a short real Fashion-MNIST training."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from dcgan import Trainer, TrainConfig
from dcgan.augment import color, cutout, diff_augment, translation
from dcgan.errors import ConfigError, DataError
from dcgan.events import RealGrid, SampleGrid, StepMetrics
from dcgan.images import grid_array
from dcgan.losses import LOSSES, feature_matching
from dcgan.models import Discriminator, MinibatchDiscrimination
from dcgan.rundir import read_metrics
from dcgan.step import lr_factor, update_ema
from dcgan.vocabulary import STEP_METRICS

def small(**kw):
    base = dict(seed=2, batch_size=32, g_width=16, d_width=16, log_every=1, tensorboard=False)
    return TrainConfig(**{**base, **kw})


def discrimination(trainer, fashion) -> float:
    """D's mean score gap between 256 held real images and 256 fresh fakes: ~0 at initialisation."""
    g = torch.Generator().manual_seed(123)
    real = fashion.images[-256:].float().div(127.5).sub(1)
    z = torch.randn(256, trainer.config.latent_dim, generator=g)
    labels = fashion.labels[-256:] if trainer.config.conditional else None
    trainer.D.eval(), trainer.G.eval()
    with torch.no_grad():
        gap = trainer.D(real, labels).mean() - trainer.D(trainer.G(z, labels), labels).mean()
    trainer.D.train(), trainer.G.train()
    return gap.item()


@pytest.mark.parametrize("loss", sorted(LOSSES))
def test_each_objective_trains_d_and_stays_finite(fashion, tmp_path, loss):
    trainer = Trainer(small(loss=loss, steps=40), run_dir=tmp_path / "r", data=fashion).setup()
    before = discrimination(trainer, fashion)
    events = []
    trainer.subscribe(events.append)
    assert trainer.run() == "finished"
    rows = [e.metrics for e in events if isinstance(e, StepMetrics)]
    assert all(np.isfinite(v) for r in rows for v in r.values())
    after = discrimination(trainer, fashion)
    assert after > before + 0.05 and after > 0.05, (before, after)
    if LOSSES[loss].gradient_penalty:
        assert "penalty/gp" in rows[-1] and "D/W_distance" in rows[-1]
        assert not any(isinstance(m, nn.BatchNorm2d) for m in trainer.D.modules())
    assert set(rows[-1]) <= set(STEP_METRICS)  # the objective's own numbers are in the vocabulary too


STABILISERS = {
    "spectral_norm": dict(spectral_norm=True),
    "dropout": dict(d_dropout=0.3),
    "label_smoothing": dict(label_smoothing=0.1),
    "instance_noise": dict(instance_noise=0.1),
    "ttur": dict(lr_g=1e-4, lr_d=4e-4),
    "linear_schedule": dict(lr_schedule="linear"),
    "cosine_schedule": dict(lr_schedule="cosine"),
    "ema": dict(ema=0.99),
    "diffaugment": dict(diffaugment="translation,cutout,color"),
    "r1": dict(r1=1.0),
    "d_steps": dict(d_steps=2),
    "instance_norm": dict(d_norm="instance"),
    "minibatch_discrimination": dict(minibatch_discrimination=20),
    "feature_matching": dict(feature_matching=True),
    # Speed levers must not change what is trained: they resume exactly too.
    "bf16": dict(precision="bf16"),
    "contiguous_layout": dict(channels_last=False),
}


@pytest.mark.parametrize("name", sorted(STABILISERS))
def test_each_stabiliser_trains_and_resumes_exactly(fashion, tmp_path, name):
    options = STABILISERS[name]
    Trainer(small(steps=12, **options), run_dir=tmp_path / "full", data=fashion).run()
    split = Trainer(small(steps=12, **options), run_dir=tmp_path / "split", data=fashion)
    split.subscribe(lambda e: split.request_stop() if isinstance(e, StepMetrics) and e.step == 5 else None)
    assert split.run() == "stopped"
    assert Trainer.resume(tmp_path / "split", data=fashion).run() == "finished"
    rows = lambda d: [r for r in read_metrics(tmp_path / d / "metrics.jsonl") if "loss/D" in r]  # noqa: E731
    full, split = rows("full"), rows("split")
    assert all(np.isfinite(r["loss/D"]) and np.isfinite(r["loss/G"]) for r in full)
    assert ("penalty/r1" in full[-1]) == ("r1" in options)
    key = lambda r: {k: v for k, v in r.items() if k not in ("time", "speed/images_per_s")}  # noqa: E731
    assert [key(r) for r in split] == [key(r) for r in full]
    saved = json.loads((tmp_path / "full" / "config.json").read_text())
    assert all(saved[k] == v for k, v in options.items())


def test_learning_rates_follow_the_schedule_and_ttur(fashion, tmp_path):
    Trainer(small(steps=10, lr_g=1e-4, lr_d=4e-4, lr_schedule="linear"), run_dir=tmp_path / "r", data=fashion).run()
    rows = [r for r in read_metrics(tmp_path / "r" / "metrics.jsonl") if "loss/D" in r]
    # The rate used by step t (reported after it) is base * (1 - (t - 1) / total).
    assert rows[0]["lr/G"] == pytest.approx(1e-4) and rows[0]["lr/D"] == pytest.approx(4e-4)
    assert rows[-1]["lr/D"] == pytest.approx(4e-4 * (1 - 9 / 10))
    assert lr_factor("cosine", 5, 10) == pytest.approx(0.5) and lr_factor("constant", 9, 10) == 1


def test_ema_update_is_the_moving_average():
    torch.manual_seed(0)
    model, ema = nn.Linear(3, 2), nn.Linear(3, 2)
    before = ema.weight.detach().clone()
    update_ema(ema, model, decay=0.999, step=10_000)
    assert torch.allclose(ema.weight, 0.999 * before + 0.001 * model.weight)
    update_ema(ema, model, decay=0.999, step=0)  # warm-up: decay (1 + 0) / (10 + 0) = 0.1
    assert torch.allclose(ema.weight, 0.1 * (0.999 * before + 0.001 * model.weight) + 0.9 * model.weight)


def test_ema_generator_makes_the_samples_and_the_export(fashion, tmp_path):
    from dcgan import load_generator

    trainer = Trainer(small(steps=15, ema=0.9), run_dir=tmp_path / "r", data=fashion)
    trainer.run()
    exported = load_generator(tmp_path / "r" / "generator.safetensors")
    for p_export, p_ema, p_raw in zip(exported.model.parameters(), trainer.G_ema.parameters(),
                                      trainer.G.parameters()):
        assert torch.equal(p_export, p_ema)
    assert any(not torch.equal(a, b) for a, b in zip(trainer.G_ema.parameters(), trainer.G.parameters()))


def test_spectral_norm_bounds_the_largest_singular_value():
    torch.manual_seed(0)
    d = Discriminator(28, 1, 16, spectral_norm=True)
    x = torch.randn(8, 1, 28, 28)
    for _ in range(20):  # power iterations converge during forward passes in training mode
        d(x)
    conv = d.blocks[1][0]
    sigma = torch.linalg.matrix_norm(conv.weight.detach().flatten(1), ord=2).item()
    assert sigma == pytest.approx(1.0, abs=0.05)


def test_diffaugment_policies():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 3, 32, 32) * 2 - 1
    moved = translation(x, g)
    # Whole-pixel shifts: every output pixel is an input pixel of the same image or the zero fill.
    values = set(x[0].flatten().tolist()) | {0.0}
    assert set(moved[0].flatten().tolist()) <= values
    cut = cutout(torch.ones(16, 1, 32, 32), g)
    assert cut.mean().item() == pytest.approx(0.75, abs=0.08)  # about a quarter of the area is cut
    assert not torch.allclose(color(x, g).mean((1, 2, 3)), x.mean((1, 2, 3)))
    x.requires_grad_(True)
    diff_augment(x, ["color", "translation", "cutout"], g).sum().backward()
    assert x.grad.abs().sum() > 0  # differentiable: G still learns through it


@pytest.mark.parametrize("conditioning", ["projection", "concat"])
def test_conditional_run_has_one_grid_row_per_class(fashion, tmp_path, conditioning):
    events = []
    trainer = Trainer(small(steps=6, conditional=True, d_conditioning=conditioning), run_dir=tmp_path / "r",
                      data=fashion, subscribers=[events.append])
    trainer.run()
    grid = [e for e in events if isinstance(e, SampleGrid)][-1]
    assert grid.images.shape[0] == 10 * grid.nrow and grid.nrow == 8
    assert json.loads((tmp_path / "r" / "config.json").read_text())["num_classes"] == 10
    # The run's grids name each row's class on the left (as --class takes it), the images beside them untouched.
    assert grid.row_labels[7] == "7 Sneaker"
    for name in (f"samples/step-{grid.step:07d}.png", "real.png"):
        written = np.asarray(Image.open(tmp_path / "r" / name))
        plain = grid_array(grid.images if name != "real.png" else
                           [e for e in events if isinstance(e, RealGrid)][0].images, 8)
        margin = written.shape[1] - plain.shape[1]
        assert margin > 20 and np.array_equal(written[:, margin:], plain)
        assert written[2 + 7 * 30:2 + 7 * 30 + 28, :margin].max() > 128  # light text beside class 7's row
    Trainer.resume(tmp_path / "r", steps=8, data=fashion).run()


@pytest.mark.parametrize("values,words", [
    ({"loss": "hinge", "label_smoothing": 0.1}, "no meaning for loss='hinge'"),
    ({"loss": "wgan-gp", "d_norm": "batch"}, "BatchNorm"),
    ({"diffaugment": "translation,zoom"}, "'zoom' is unknown"),
    ({"dataset": "celeba", "conditional": True}, "needs class labels"),
    ({"loss": "wasserstein"}, "loss must be one of"),
    ({"loss": "hinj"}, r"loss must be one of .*, got .hinj.; did you mean .hinge.\?"),
    ({"loss": "wgan-gp", "d_norm": "layer", "minibatch_discrimination": 100}, "depend on the rest of its batch"),
    ({"minibatch_discrimination": -1}, "minibatch_discrimination must be >= 0"),
])
def test_bad_technique_options_teach(values, words):
    with pytest.raises(ConfigError, match=words):
        TrainConfig.from_dict(values)


@pytest.mark.parametrize("where", [".", "only-class"])  # images beside no sub-folder, or in a single one
def test_conditional_on_an_unlabelled_folder_is_a_clear_error(tmp_path, where):
    from PIL import Image

    (tmp_path / "pics" / where).mkdir(parents=True, exist_ok=True)
    for i in range(4):
        Image.new("L", (16, 16), 40 * i).save(tmp_path / "pics" / where / f"{i}.png")
    config = small(dataset=f"folder:{tmp_path / 'pics'}", image_size=16, channels=1, conditional=True,
                   batch_size=2, steps=1)
    with pytest.raises(DataError, match="needs class labels.*one sub-folder of images per class, two or more"):
        Trainer(config, run_dir=tmp_path / "r").setup()


def test_minibatch_discrimination_scores_a_batch_of_copies_apart_from_a_varied_batch():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(in_features=64, kernels=10)
    varied = torch.randn(16, 64) * 5
    copies = varied[:1].repeat(16, 1)
    o_varied, o_copies = layer(varied), layer(copies)
    assert o_varied.shape == o_copies.shape == (16, 10)
    # Every other sample is at L1 distance 0 from a copy: c = exp(0) = 1 for each of the 15 others, mean 1.
    assert torch.allclose(o_copies, torch.ones(16, 10))
    assert o_varied.max() < 0.3


def test_minibatch_discrimination_makes_ds_score_depend_on_the_batch(fashion):
    torch.manual_seed(0)
    d = Discriminator(28, 1, 16, minibatch_kernels=20).eval()
    real = fashion.images[:8].float().div(127.5).sub(1)
    alone = d(real)
    with_copies = d(torch.cat([real[:1], real[:1].repeat(7, 1, 1, 1)]))
    assert not torch.allclose(alone[0], with_copies[0])  # the same image, another batch, another score
    plain = Discriminator(28, 1, 16).eval()
    assert torch.allclose(plain(real)[:1], plain(real[:1]), atol=1e-5)  # without it: per-sample


def test_feature_matching_is_the_squared_distance_of_feature_means():
    real = torch.tensor([[1.0, 2.0], [3.0, 4.0]])  # mean (2, 3)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0]], requires_grad=True)  # mean (1, 1)
    loss = feature_matching(real, fake)
    assert loss.item() == pytest.approx(((2 - 1) ** 2 + (3 - 1) ** 2) / 2)
    loss.backward()
    assert fake.grad is not None and feature_matching(real, real.clone()).item() == 0


def test_feature_matching_drives_g_by_ds_features(fashion, tmp_path):
    trainer = Trainer(small(feature_matching=True, steps=30), run_dir=tmp_path / "r", data=fashion)
    events = []
    trainer.subscribe(events.append)
    assert trainer.run() == "finished"
    rows = [e.metrics for e in events if isinstance(e, StepMetrics)]
    # G's loss is the feature distance: non-negative and falling from its start as G learns to match.
    assert all(r["loss/G"] >= 0 for r in rows)
    assert np.mean([r["loss/G"] for r in rows[-5:]]) < np.mean([r["loss/G"] for r in rows[:5]])


def test_minibatch_discrimination_is_fixed_for_a_fork():
    from dcgan.control import FORK_FIXED

    assert "minibatch_discrimination" in FORK_FIXED  # it changes D's shape
