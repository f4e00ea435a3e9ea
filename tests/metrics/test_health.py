"""The training-health monitor: its rules on constructed metrics, and the trainer acting on them (a NaN stops the
run and keeps the last good checkpoint)."""

import math

import torch

from dcgan import Trainer, TrainConfig
from dcgan.checkpoint import load_checkpoint
from dcgan.events import CheckpointSaved, Log, StepMetrics
from dcgan.metrics.health import HealthMonitor, non_finite


def small(**kw):
    base = dict(seed=5, batch_size=32, g_width=16, d_width=16, log_every=1, tensorboard=False)
    return TrainConfig(**{**base, **kw})


def test_d_overpowering_warns_once_after_a_sustained_window():
    monitor = HealthMonitor("nonsaturating", window=100)
    strong = {"D/real": 0.999, "D/fake": 0.001}
    warnings = [w for step in range(0, 301, 10) for w in monitor.observe_step(step, strong)]
    assert len(warnings) == 1 and "overpowers" in warnings[0] and "since step 0" in warnings[0]


def test_a_brief_spike_or_a_balanced_game_does_not_warn():
    monitor = HealthMonitor("nonsaturating", window=100)
    for step in range(0, 500, 10):
        metrics = {"D/real": 0.999, "D/fake": 0.001} if step % 50 else {"D/real": 0.7, "D/fake": 0.3}
        assert monitor.observe_step(step, metrics) == []


def test_scores_that_are_not_probabilities_are_not_judged():
    monitor = HealthMonitor("wgan-gp", window=10)
    assert not any(monitor.observe_step(s, {"D/real": 1.0, "D/fake": 0.0, "loss/D": 0.0}) for s in range(0, 200, 10))


def test_a_hinge_d_past_both_margins_warns_by_its_zero_loss():
    monitor = HealthMonitor("hinge", window=100)
    healthy = {"D/real": 1.0, "D/fake": 0.0, "loss/D": 0.25}  # scores saturate sigmoid, yet D still learns
    assert not any(monitor.observe_step(s, healthy) for s in range(0, 300, 10))
    warnings = [w for s in range(300, 601, 10) for w in monitor.observe_step(s, {**healthy, "loss/D": 0.0})]
    assert len(warnings) == 1 and "hinge loss is 0" in warnings[0] and "since step 300" in warnings[0]


def test_a_hinge_run_whose_d_wins_outright_is_warned_of(fashion, tmp_path):
    """A dashboard audit met a hinge run (lr 1) whose D passed both margins for good, loss_G stuck and the samples a
    checkerboard, and nothing said so. Here G stands still (lr_g 1e-12) beside a fast D, which soon scores every
    real image above +1 and every fake below -1, deterministically."""
    events = []
    trainer = Trainer(small(loss="hinge", lr_g=1e-12, lr_d=1e-2, steps=400, batch_size=16, log_every=10,
                            minibatch_discrimination=0, sample_every=0, checkpoint_every=0),
                      run_dir=tmp_path / "run", data=fashion, subscribers=[events.append])
    trainer.run()
    warnings = [e.message for e in events if isinstance(e, Log) and e.message.startswith("health:")]
    assert len(warnings) == 1 and "hinge loss is 0" in warnings[0], warnings


def test_falling_class_coverage_warns_of_mode_collapse():
    monitor = HealthMonitor()
    assert monitor.observe_eval(100, {"classes_covered": 10, "recall": 0.5}) == []
    assert monitor.observe_eval(200, {"classes_covered": 9, "recall": 0.45}) == []
    warnings = monitor.observe_eval(300, {"classes_covered": 6, "recall": 0.4})
    assert len(warnings) == 1 and "mode collapse" in warnings[0] and "classes covered" in warnings[0]
    assert monitor.observe_eval(400, {"classes_covered": 6, "recall": 0.4}) == []  # said once


def test_non_finite_names_the_broken_values():
    assert non_finite({"loss/D": math.nan, "loss/G": 1.0, "D/real": math.inf}) == ["D/real", "loss/D"]


def test_a_nan_stops_training_and_the_last_checkpoint_stays_finite(fashion, tmp_path):
    """Poison D after the step-10 checkpoint: the run stops with status 'failed' and an error that names the
    last good checkpoint, and writes no checkpoint of the broken weights."""
    events = []
    trainer = Trainer(small(steps=40, checkpoint_every=10), run_dir=tmp_path / "run", data=fashion,
                      subscribers=[events.append])

    def poison(event):
        if isinstance(event, StepMetrics) and event.step == 13:
            with torch.no_grad():
                next(trainer.D.parameters()).fill_(float("nan"))

    trainer.subscribe(poison)
    assert trainer.run() == "failed"
    saved = [e.step for e in events if isinstance(e, CheckpointSaved)]
    assert saved == [10]
    errors = [e.message for e in events if isinstance(e, Log) and e.level == "error"]
    assert len(errors) == 1 and "diverged" in errors[0] and "step-0000010.pt" in errors[0]
    assert trainer.step == 14  # stopped at the first logged step after the poison
    last = (tmp_path / "run" / "checkpoints" / "last").read_text().strip()
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / last)
    assert state["step"] == 10
    assert all(torch.isfinite(t).all() for net in ("G", "D") for t in state[net].values() if t.is_floating_point())


def test_broken_weights_are_never_checkpointed_even_between_logged_steps(fashion, tmp_path):
    events = []
    trainer = Trainer(small(steps=40, checkpoint_every=10, log_every=100), run_dir=tmp_path / "run", data=fashion,
                      subscribers=[events.append])

    def poison(event):
        if isinstance(event, CheckpointSaved) and event.step == 10:
            with torch.no_grad():
                next(trainer.G.parameters()).fill_(float("inf"))

    trainer.subscribe(poison)
    assert trainer.run() == "failed"
    assert [e.step for e in events if isinstance(e, CheckpointSaved)] == [10]
    assert trainer.step == 20
    assert (tmp_path / "run" / "checkpoints" / "last").read_text().strip() == "step-0000010.pt"
