"""Seed 003's two views (issue 20): real training images beside the fixed-noise samples at the same size (run
folder, TensorBoard), and the G/D loss ratio logged as a metric with the health monitor's bands."""

from __future__ import annotations

import pytest
from PIL import Image

from dcgan import Trainer, TrainConfig
from dcgan.events import RealGrid
from dcgan.metrics.health import (EQUILIBRIUM_RATIO, LOSS_RATIO_BANDS, OVERPOWER_RATIO, loss_ratio, ratio_at)
from dcgan.rundir import read_metrics


def small(**kw):
    base = dict(seed=5, batch_size=32, g_width=16, d_width=16, log_every=1, tensorboard=False)
    return TrainConfig(**{**base, **kw})


def test_a_run_keeps_real_images_laid_out_as_its_samples(fashion, tmp_path):
    events = []
    Trainer(small(steps=4, sample_count=36, tensorboard=True), run_dir=tmp_path / "r", data=fashion,
            subscribers=[events.append]).run()
    real = Image.open(tmp_path / "r" / "real.png")
    assert real.size == Image.open(tmp_path / "r" / "samples" / "step-0000004.png").size == (6 * 28 + 7 * 2,) * 2
    grid = next(e for e in events if isinstance(e, RealGrid))
    assert grid.images.shape == (36, 1, 28, 28) and grid.nrow == 6
    # Real training images, drawn from the seed: the same run draws the same ones.
    assert any(bool((fashion.images == image).all((1, 2, 3)).any()) for image in grid.images[:3])
    again = []
    Trainer(small(steps=1, sample_count=36), run_dir=tmp_path / "again", data=fashion,
            subscribers=[again.append]).run()
    assert (next(e for e in again if isinstance(e, RealGrid)).images == grid.images).all()

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(tmp_path / "r"), size_guidance={"images": 0})
    acc.Reload()
    real_tb, fake_tb = acc.Images("samples/real")[0], acc.Images("samples/fixed noise")[0]
    assert (real_tb.width, real_tb.height) == (fake_tb.width, fake_tb.height)


def test_a_conditional_runs_real_grid_has_one_class_per_row(fashion, tmp_path):
    events = []
    Trainer(small(steps=1, conditional=True), run_dir=tmp_path / "r", data=fashion,
            subscribers=[events.append]).run()
    grid = next(e for e in events if isinstance(e, RealGrid))
    assert grid.images.shape[0] == 10 * grid.nrow == 80
    for row in range(10):  # every image of row k is a real image of class k
        for image in grid.images[row * 8:(row + 1) * 8]:
            matches = (fashion.images == image).all((1, 2, 3)).nonzero().flatten()
            assert len(matches) and (fashion.labels[matches] == row).any()


def test_the_loss_ratio_is_logged_for_the_nonsaturating_objective(fashion, tmp_path):
    Trainer(small(steps=5), run_dir=tmp_path / "ns", data=fashion).run()
    rows = [r for r in read_metrics(tmp_path / "ns" / "metrics.jsonl") if "loss/D" in r]
    assert all(r["loss/ratio"] == pytest.approx(r["loss/G"] / r["loss/D"]) for r in rows)
    Trainer(small(steps=2, loss="hinge"), run_dir=tmp_path / "hinge", data=fashion).run()
    Trainer(small(steps=2, feature_matching=True), run_dir=tmp_path / "fm", data=fashion).run()
    for name in ("hinge", "fm"):  # the bands mean nothing there: hinge scores, or G's loss is no longer its own
        rows = [r for r in read_metrics(tmp_path / name / "metrics.jsonl") if "loss/D" in r]
        assert rows and not any("loss/ratio" in r for r in rows)


def test_the_bands_sit_at_the_games_landmarks():
    assert EQUILIBRIUM_RATIO == pytest.approx(0.5)  # D(x) = D(G(z)) = 1/2: loss_D = 2 ln 2, loss_G = ln 2
    assert OVERPOWER_RATIO == pytest.approx(ratio_at(0.99, 0.01)) and 225 < OVERPOWER_RATIO < 235
    assert [b["low"] for b in LOSS_RATIO_BANDS[1:]] == [b["high"] for b in LOSS_RATIO_BANDS[:-1]]
    assert loss_ratio("nonsaturating", False, {"loss/G": 2.0, "loss/D": 0.5}) == 4.0
    assert loss_ratio("lsgan", False, {"loss/G": 2.0, "loss/D": 0.5}) is None
