"""Steering a run while it trains (issue 9): pause, single steps, live hyperparameters, forks, the record."""

import json
import threading

import pytest
import torch

from dcgan import Trainer, TrainConfig
from dcgan.control import MAX_LIVE_CHANGES, Change
from dcgan.errors import ConfigError
from dcgan.events import HyperparameterChanged, SampleGrid, StatusChanged, StepMetrics
from dcgan.rundir import read_metrics


def small(**kw):
    base = dict(seed=4, batch_size=32, g_width=16, d_width=16, lr=2e-4, log_every=1, tensorboard=False)
    return TrainConfig(**{**base, **kw})


class Watcher:
    """Collects events and lets the test wait for one that matches."""

    def __init__(self):
        self.events, self.cond = [], threading.Condition()

    def __call__(self, event):
        with self.cond:
            self.events.append(event)
            self.cond.notify_all()

    def wait_for(self, test, timeout=60):
        with self.cond:
            assert self.cond.wait_for(lambda: any(test(e) for e in self.events), timeout), "event never came"
            return [e for e in self.events if test(e)][-1]


def start(trainer):
    thread = threading.Thread(target=trainer.run, daemon=True)
    thread.start()
    return thread


def params(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture
def paused(fashion, tmp_path):
    """A real run paused at a step boundary after a few steps."""
    watcher = Watcher()
    trainer = Trainer(small(steps=100000), run_dir=tmp_path / "r", data=fashion, subscribers=[watcher])
    thread = start(trainer)
    watcher.wait_for(lambda e: isinstance(e, StepMetrics) and e.step >= 3)
    trainer.pause()
    watcher.wait_for(lambda e: isinstance(e, StatusChanged) and e.status == "paused")
    yield trainer, watcher
    trainer.request_stop()
    thread.join(60)


def test_pause_holds_the_step_counter(paused):
    trainer, watcher = paused
    held = trainer.step
    assert watcher.wait_for(lambda e: isinstance(e, StatusChanged) and e.status == "paused").step == held
    threading.Event().wait(0.5)
    assert trainer.step == held and trainer.paused


def test_single_d_step_changes_only_d_and_g_step_only_g(paused):
    trainer, watcher = paused
    step = trainer.step
    g0, d0 = params(trainer.G), params(trainer.D)
    trainer.single_step("d")
    row = watcher.wait_for(lambda e: isinstance(e, StepMetrics) and e.step == step + 1)
    assert row.manual == "d" and "loss/D" in row.metrics and "loss/G" not in row.metrics
    g1, d1 = params(trainer.G), params(trainer.D)
    assert same(g0, g1) and not same(d0, d1)

    grid_before = watcher.wait_for(lambda e: isinstance(e, SampleGrid) and e.step == step + 1).images
    trainer.single_step("g")
    row = watcher.wait_for(lambda e: isinstance(e, StepMetrics) and e.step == step + 2)
    assert row.manual == "g" and "loss/G" in row.metrics and "loss/D" not in row.metrics
    g2, d2 = params(trainer.G), params(trainer.D)
    assert same(d1, d2) and not same(g1, g2)
    grid_after = watcher.wait_for(lambda e: isinstance(e, SampleGrid) and e.step == step + 2).images
    assert not torch.equal(grid_before, grid_after)  # the fixed-noise grid moved with G

    trainer.single_step("full")
    row = watcher.wait_for(lambda e: isinstance(e, StepMetrics) and e.step == step + 3)
    assert row.manual == "dg" and trainer.paused and trainer.step == step + 3


def test_unpause_continues_training(paused):
    trainer, watcher = paused
    held = trainer.step
    trainer.unpause()
    watcher.wait_for(lambda e: isinstance(e, StepMetrics) and e.step > held + 2)
    assert not trainer.paused


def test_live_lr_change_reaches_the_optimizer_and_the_files(paused, tmp_path):
    trainer, watcher = paused
    trainer.set_hyperparameters(lr_d=4e-4)
    changed = watcher.wait_for(lambda e: isinstance(e, HyperparameterChanged))
    assert (changed.field, changed.old, changed.new) == ("lr_d", 2e-4, 4e-4)
    trainer.single_step("full")
    row = watcher.wait_for(lambda e: isinstance(e, StepMetrics) and e.step == changed.step + 1)
    assert row.metrics["lr/D"] == pytest.approx(4e-4) and row.metrics["lr/G"] == pytest.approx(2e-4)
    assert trainer.opt_D.param_groups[0]["lr"] == pytest.approx(4e-4)
    rows = read_metrics(tmp_path / "r" / "metrics.jsonl")
    assert {"event": "hparam", "step": changed.step, "field": "lr_d", "old": 2e-4, "new": 4e-4}.items() <= \
        [r for r in rows if r.get("event") == "hparam"][0].items()
    chosen = json.loads((tmp_path / "r" / "config.json").read_text())
    assert (chosen["lr"], chosen["lr_d"]) == (2e-4, None)  # the choices stay (D's rate follows --lr)
    assert json.loads((tmp_path / "r" / "changes.json").read_text())[0]["new"] == 4e-4


@pytest.mark.parametrize("changes,words", [
    ({"latent_dim": 10}, "cannot change during training"),
    ({"lr_d": -1.0}, "lr_d must be > 0"),  # in Python, the field's name (the command line says --lr-d)
    ({"d_steps": 0}, "d_steps must be >= 1"),
])
def test_bad_live_changes_are_refused_in_the_callers_thread(fashion, changes, words):
    trainer = Trainer(small(steps=5), data=fashion, write_files=False)
    with pytest.raises(ConfigError, match=words):
        trainer.set_hyperparameters(**changes)


def test_a_runs_live_changes_are_bounded_and_a_fork_goes_on(fashion):
    """A run that has recorded MAX_LIVE_CHANGES live changes (here as a resumed run reads them back) refuses one
    more, naming the fork; below the bound a change is taken."""
    trainer = Trainer(small(steps=5), data=fashion, write_files=False)
    trainer.changes = [Change(i, "lr_d", 2e-4, 3e-4) for i in range(MAX_LIVE_CHANGES - 1)]
    trainer.set_hyperparameters(lr_d=4e-4)  # the last one a run keeps
    trainer.changes.append(Change(MAX_LIVE_CHANGES, "lr_d", 3e-4, 4e-4))
    with pytest.raises(ConfigError, match=f"the most one run keeps is {MAX_LIVE_CHANGES}: fork it") as refused:
        trainer.set_hyperparameters(lr_g=1e-4)
    assert refused.value.field == "lr_g"


def test_resume_replays_live_changes(fashion, tmp_path, fixed_threads):
    """A run changed live at step 6 and resumed from its step-4 checkpoint makes the change again at step 6,
    and matches the uninterrupted run."""
    def change_at_6(trainer):
        return lambda e: trainer.set_hyperparameters(lr_d=5e-4, d_steps=2) if (
            isinstance(e, StepMetrics) and e.step == 6) else None

    full = Trainer(small(steps=12, checkpoint_every=4, keep_checkpoints=10), run_dir=tmp_path / "full", data=fashion)
    full.subscribe(change_at_6(full))
    full.run()
    resumed = Trainer.resume(tmp_path / "full", checkpoint=tmp_path / "full" / "checkpoints" / "step-0000004.pt",
                             data=fashion)
    watcher = Watcher()
    resumed.subscribe(watcher)
    before = [r for r in read_metrics(tmp_path / "full" / "metrics.jsonl") if "loss/D" in r]
    resumed.run()
    after = [r for r in read_metrics(tmp_path / "full" / "metrics.jsonl") if "loss/D" in r]
    key = lambda r: {k: v for k, v in r.items() if k not in ("time", "speed/images_per_s")}  # noqa: E731
    assert [key(r) for r in after] == [key(r) for r in before]
    assert any(isinstance(e, HyperparameterChanged) and e.step == 6 for e in watcher.events)
    assert after[-1]["lr/D"] == pytest.approx(5e-4)


def test_fork_starts_from_the_parents_weights_and_records_its_parent(fashion, tmp_path):
    Trainer(small(steps=8, checkpoint_every=4, keep_checkpoints=10), run_dir=tmp_path / "parent", data=fashion).run()
    ckpt = tmp_path / "parent" / "checkpoints" / "step-0000004.pt"
    fork = Trainer.fork(tmp_path / "parent", {"lr_d": 1e-3, "label_smoothing": 0.1, "steps": 10}, checkpoint=ckpt,
                        run_dir=tmp_path / "child", data=fashion).setup()
    state = torch.load(ckpt, weights_only=True)
    assert same(state["G"], fork.G.state_dict()) and same(state["D"], fork.D.state_dict())
    assert fork.step == 4 and fork.config.lr_d == 1e-3
    fork.run()
    rows = [r for r in read_metrics(tmp_path / "child" / "metrics.jsonl") if "loss/D" in r]
    assert rows[0]["step"] == 5 and rows[-1]["step"] == 10 and rows[0]["lr/D"] == pytest.approx(1e-3)
    record = json.loads((tmp_path / "child" / "run.json").read_text())
    assert record["parent"]["step"] == 4 and record["parent"]["run"] == str(tmp_path / "parent")
    assert record["parent"]["changes"] == {"lr_d": 1e-3, "label_smoothing": 0.1, "steps": 10}
    with pytest.raises(ConfigError, match="cannot change"):
        Trainer.fork(tmp_path / "parent", {"g_width": 32}, data=fashion)


def test_the_same_seed_gives_the_same_fixed_noise_across_runs(fashion, tmp_path):
    a = Trainer(small(steps=1, lr=1e-3), run_dir=tmp_path / "a", data=fashion).setup()
    b = Trainer(small(steps=1, lr=5e-5), run_dir=tmp_path / "b", data=fashion).setup()
    assert torch.equal(a.fixed_noise, b.fixed_noise)


def test_reproducibility_record(fashion, tmp_path):
    trainer = Trainer(small(steps=2), run_dir=tmp_path / "r", data=fashion, origin="dcgan train --steps 2")
    trainer.run()
    Trainer.resume(tmp_path / "r", steps=3, data=fashion, origin="dcgan train --resume r --steps 3").run()
    record = json.loads((tmp_path / "r" / "run.json").read_text())
    assert record["seed"] == 4 and record["parent"] is None
    first, second = record["sessions"]
    assert first["command"] == "dcgan train --steps 2" and second["from_step"] == 2
    assert first["dataset"]["fingerprint"] == fashion.fingerprint() and first["dataset"]["images"] == 60000
    assert set(first["versions"]) >= {"dcgan", "torch", "torchvision", "python"}
    assert first["device"] == "cpu" and "deterministic_algorithms" in first["determinism"]


def stop_at(step):
    """A subscriber that asks its trainer to stop once `step` is logged (a run that ends early, with a checkpoint)."""
    def watch(trainer):
        return lambda e: trainer.request_stop() if isinstance(e, StepMetrics) and e.step >= step else None
    return watch


def as_saved_before_issue_19(run_dir):
    """Rewrite a run as versions before issue 19 saved it: config.json and every checkpoint's config hold the
    derived values (both learning rates copied from --lr, the default epochs, D's normalisation)."""
    from dcgan.checkpoint import atomic_save, load_checkpoint

    legacy = TrainConfig.from_dict(json.loads((run_dir / "config.json").read_text())).resolved("cpu").to_dict()
    (run_dir / "config.json").write_text(json.dumps(legacy))
    for path in (run_dir / "checkpoints").glob("step-*.pt"):
        state = load_checkpoint(path)
        atomic_save({**state, "config": legacy}, path)
    return legacy


@pytest.mark.parametrize("legacy", [False, True], ids=["run", "run saved before issue 19"])
def test_a_fork_with_a_new_lr_trains_g_and_d_at_it(fashion, tmp_path, legacy):
    Trainer(small(steps=3), run_dir=tmp_path / "parent", data=fashion).run()
    saved = json.loads((tmp_path / "parent" / "config.json").read_text())
    assert (saved["lr_g"], saved["lr_d"]) == (None, None)  # derived, not chosen: not saved as if chosen
    if legacy:
        assert as_saved_before_issue_19(tmp_path / "parent")["lr_g"] == saved["lr"]
    fork = Trainer.fork(tmp_path / "parent", {"lr": 1e-3, "steps": 5}, run_dir=tmp_path / "child", data=fashion)
    assert (fork.config.lr_g, fork.config.lr_d) == (1e-3, 1e-3)
    fork.run()
    rows = [r for r in read_metrics(tmp_path / "child" / "metrics.jsonl") if "loss/D" in r]
    assert rows[-1]["lr/G"] == pytest.approx(1e-3) and rows[-1]["lr/D"] == pytest.approx(1e-3)


@pytest.mark.parametrize("legacy", [False, True], ids=["run", "run saved before issue 19"])
def test_a_fork_may_give_steps_for_a_parent_trained_by_epochs(fashion, tmp_path, legacy):
    parent = Trainer(small(epochs=1), run_dir=tmp_path / "parent", data=fashion)
    parent.subscribe(stop_at(3)(parent))
    assert parent.run() == "stopped"
    if legacy:
        as_saved_before_issue_19(tmp_path / "parent")
    fork = Trainer.fork(tmp_path / "parent", {"steps": 6}, run_dir=tmp_path / "child", data=fashion)
    assert (fork.config.steps, fork.config.epochs) == (6, None)
    assert fork.run() == "finished" and fork.step == 6
    # And the other way round: epochs for a parent trained by steps.
    by_epochs = Trainer.fork(tmp_path / "child", {"epochs": 1}, run_dir=tmp_path / "grandchild", data=fashion)
    assert (by_epochs.config.steps, by_epochs.config.epochs) == (None, 1)


def test_a_run_saved_before_issue_19_still_resumes(fashion, tmp_path):
    Trainer(small(steps=3), run_dir=tmp_path / "old", data=fashion).run()
    legacy = as_saved_before_issue_19(tmp_path / "old")
    resumed = Trainer.resume(tmp_path / "old", steps=5, data=fashion)
    assert resumed.run() == "finished" and resumed.step == 5
    assert (resumed.config.lr_g, resumed.config.d_norm) == (legacy["lr_g"], legacy["d_norm"])
