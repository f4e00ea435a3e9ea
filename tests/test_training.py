import json
import threading
import time

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan import Trainer, TrainConfig, load_generator
from dcgan.events import CheckpointSaved, EpochEnd, Log, SampleGrid, StatusChanged, StepMetrics
from dcgan.rundir import NOT_METRICS, read_metrics
from dcgan.runfiles import RunWriters
from dcgan.device import cpu_has_native_bf16
from dcgan.errors import CheckpointError
from dcgan.vocabulary import STEP_METRICS

METRIC_KEYS = {"loss/D", "loss/G", "D/real", "D/fake", "D/fake_before_G", "D/fake_after_G", "lr/G", "lr/D",
               "speed/images_per_s"}


def small(**kw):
    """A narrow model on real Fashion-MNIST: the real code path, fast enough for CI."""
    base = dict(seed=5, batch_size=32, g_width=16, d_width=16, log_every=1, tensorboard=False)
    return TrainConfig(**{**base, **kw})


def steps_rows(run_dir):
    return [r for r in read_metrics(run_dir / "metrics.jsonl") if "loss/D" in r]


@pytest.mark.slow
def test_a_short_real_training_learns(fashion, tmp_path):
    """A few hundred steps on real Fashion-MNIST at 28x28: the samples move away from the initial noise
    pattern towards the data, and D tells real from fake (D(x) above D(G(z)))."""
    events = []
    trainer = Trainer(TrainConfig(seed=0, steps=300, batch_size=64, g_width=32, d_width=32, log_every=10,
                                  sample_every=100), run_dir=tmp_path / "run", data=fashion, subscribers=[events.append])
    assert trainer.run() == "finished"
    grids = [e for e in events if isinstance(e, SampleGrid)]
    assert [g.step for g in grids] == [0, 10, 25, 50, 100, 200, 300]
    first, last = grids[0].images.float(), grids[-1].images.float()
    assert (first - last).abs().mean() > 20  # the samples changed substantially
    real_mean = fashion.images[:2000].float().mean()
    # Initial G outputs hover around mid-grey; trained ones approach the data's dark background.
    assert abs(last.mean() - real_mean) < abs(first.mean() - real_mean)
    rows = [e.metrics for e in events if isinstance(e, StepMetrics)]
    late = rows[-10:]
    assert np.mean([r["D/real"] for r in late]) > np.mean([r["D/fake"] for r in late]) + 0.2
    assert all(np.isfinite(r["loss/D"]) and np.isfinite(r["loss/G"]) for r in rows)


def test_a_run_writes_its_folder(fashion, tmp_path):
    run = tmp_path / "run"
    Trainer(small(steps=40, sample_every=15, checkpoint_every=20, tensorboard=True), run_dir=run,
            data=fashion).run()
    config = json.loads((run / "config.json").read_text())
    assert config["steps"] == 40 and config["seed"] == 5
    assert config["image_size"] is None  # left to the dataset's native size: a choice, not the derived 28
    rows = steps_rows(run)
    assert [r["step"] for r in rows] == list(range(1, 41)) and METRIC_KEYS <= set(rows[0])
    assert set(rows[0]) - NOT_METRICS <= set(STEP_METRICS)  # every name the trainer reports is in the vocabulary
    assert sorted(p.name for p in (run / "samples").iterdir()) == [
        "step-0000000.png", "step-0000010.png", "step-0000015.png", "step-0000030.png", "step-0000040.png"]
    gif = Image.open(run / "progress.gif")
    assert gif.n_frames == 5
    assert (run / "checkpoints" / "last").read_text().strip() == "step-0000040.pt"
    assert (run / "generator.safetensors").is_file()
    assert json.loads((run / "status.json").read_text())["status"] == "finished"
    assert list(run.glob("events.out.tfevents.*"))


def test_a_logged_row_is_the_mean_of_the_steps_it_stands_for(fashion, fixed_threads):
    """--log-every 4: each row averages its four steps (those of the same run logged at every step), not one
    step picked out of them; D/fake_after_G, computed only where a row is logged, is that step's own."""
    def rows(log_every):
        events = []
        Trainer(small(steps=10, log_every=log_every), data=fashion, write_files=False,
                subscribers=[events.append]).run()
        return [e.metrics for e in events if isinstance(e, StepMetrics)]

    every, grouped = rows(1), rows(4)
    assert len(grouped) == 3  # steps 4, 8 and the last, 10 (its row averages two)
    for row, steps in zip(grouped, (every[0:4], every[4:8], every[8:10])):
        for name in ("loss/D", "loss/G", "D/real", "D/fake", "D/fake_before_G"):
            assert row[name] == pytest.approx(np.mean([s[name] for s in steps]), rel=1e-5, abs=1e-6), name
        assert row["D/fake_after_G"] == pytest.approx(steps[-1]["D/fake_after_G"], rel=1e-5, abs=1e-6)
    assert grouped[0]["loss/D"] != pytest.approx(every[3]["loss/D"], rel=1e-3)  # a mean, not the fourth step


def test_the_trainer_writes_its_own_files_and_the_writers_it_is_handed_the_rest(fashion, tmp_path):
    """config.json, run.json and checkpoints are the trainer's (resuming depends on them); metrics, samples, status
    and log are written by the subscribers it is handed (RunWriters by default, as above)."""
    class Nothing(RunWriters):
        def open(self, run_dir, config):
            return []

    run = tmp_path / "run"
    assert Trainer(small(steps=3), run_dir=run, data=fashion, writers=Nothing()).run() == "finished"
    assert sorted(p.name for p in run.iterdir()) == ["checkpoints", "config.json", "generator.safetensors",
                                                     "run.json", "trainer.lock"]


def test_epochs_end_with_a_sample_and_an_epoch_row(fashion, tmp_path):
    from dcgan.data import ImageData

    subset = ImageData(fashion.images[:320], fashion.labels[:320])  # 10 steps per epoch at batch 32
    events = []
    Trainer(small(epochs=2, sample_every=1000), run_dir=tmp_path / "r", data=subset,
            subscribers=[events.append]).run()
    ends = [e for e in events if isinstance(e, EpochEnd)]
    assert [(e.epoch, e.step) for e in ends] == [(1, 10), (2, 20)]
    assert [e.step for e in events if isinstance(e, SampleGrid)] == [0, 10, 20]
    epoch_rows = [r for r in read_metrics(tmp_path / "r" / "metrics.jsonl") if r.get("event") == "epoch"]
    assert [r["epoch"] for r in epoch_rows] == [1, 2] and all(r["epoch_time_s"] > 0 for r in epoch_rows)


def test_the_same_seed_repeats_a_cpu_run_exactly(fashion, tmp_path, fixed_threads):
    """Number for number with the thread count pinned: on a busy CPU the governor drops a thread mid-run (and the
    sums then add in another order), which failed this test under load (3e-7 apart at step 1)."""
    Trainer(small(steps=15), run_dir=tmp_path / "a", data=fashion).run()
    Trainer(small(steps=15), run_dir=tmp_path / "b", data=fashion).run()
    key = lambda r: (r["step"], r["loss/D"], r["loss/G"], r["D/real"], r["D/fake_after_G"])  # noqa: E731
    assert list(map(key, steps_rows(tmp_path / "a"))) == list(map(key, steps_rows(tmp_path / "b")))
    a = np.array(Image.open(tmp_path / "a" / "samples" / "step-0000015.png"))
    b = np.array(Image.open(tmp_path / "b" / "samples" / "step-0000015.png"))
    assert np.array_equal(a, b)


def test_adam_on_the_cpu_is_the_fused_kernel(fashion, tmp_path):
    """The fused step is 3.5-8x faster on the CPU than the per-parameter loop (scripts/bench_optimizer.py)."""
    trainer = Trainer(small(steps=1), run_dir=tmp_path / "r", data=fashion).setup()
    assert trainer.opt_G.defaults["fused"] and trainer.opt_D.defaults["fused"]


def test_stopped_and_resumed_equals_uninterrupted(fashion, tmp_path, fixed_threads):
    Trainer(small(steps=30, checkpoint_every=1000), run_dir=tmp_path / "full", data=fashion).run()
    Trainer(small(steps=12), run_dir=tmp_path / "split", data=fashion).run()
    resumed = Trainer.resume(tmp_path / "split", steps=30, data=fashion)
    assert resumed.run() == "finished"
    key = lambda r: (r["step"], r["loss/D"], r["loss/G"], r["D/real"], r["D/fake"], r["D/fake_after_G"])  # noqa: E731
    assert list(map(key, steps_rows(tmp_path / "full"))) == list(map(key, steps_rows(tmp_path / "split")))
    assert json.loads((tmp_path / "split" / "config.json").read_text())["steps"] == 30


def test_stop_signal_finishes_the_step_and_checkpoints(fashion, tmp_path):
    trainer = None
    events = []

    def on_event(e):
        events.append(e)
        if isinstance(e, StepMetrics) and e.step == 7:
            other = threading.Thread(target=trainer.request_stop)  # asked from another thread, as a server does
            other.start()
            other.join()  # before the next step, however the threads are scheduled

    trainer = Trainer(small(steps=10000), run_dir=tmp_path / "r", data=fashion, subscribers=[on_event])
    assert trainer.run() == "stopped"
    stopped_at = trainer.step
    assert stopped_at == 7  # the step it was asked in is finished, no other is begun
    assert [e for e in events if isinstance(e, CheckpointSaved)][-1].step == stopped_at
    assert [e.status for e in events if isinstance(e, StatusChanged)] == ["running", "stopped"]
    resumed = Trainer.resume(tmp_path / "r", steps=stopped_at + 3, data=fashion)
    assert resumed.setup().step == stopped_at and resumed.run() == "finished"


def test_a_time_budget_ends_the_run_with_a_checkpoint(fashion, tmp_path):
    events = []
    trainer = Trainer(small(steps=100000, minutes=0.02), run_dir=tmp_path / "r", data=fashion,
                      subscribers=[events.append])
    started = time.perf_counter()
    assert trainer.run() == "finished"
    assert time.perf_counter() - started >= 0.02 * 60
    assert 0 < trainer.step < 100000
    assert [e for e in events if isinstance(e, CheckpointSaved)][-1].step == trainer.step
    final = [e for e in events if isinstance(e, StatusChanged)][-1]
    assert "0.02-minute budget ended at step" in final.message
    # The budget is per session: a resumed run trains on under a budget of its own (at least one step, however
    # few fit in it on this machine: the budget is checked between steps).
    resumed = Trainer.resume(tmp_path / "r", steps=100000, data=fashion)
    assert resumed.run() == "finished" and resumed.step > trainer.step


def test_bf16_warns_where_the_cpu_would_emulate_it(fashion, tmp_path):
    events = []
    Trainer(small(steps=1, precision="bf16"), run_dir=tmp_path / "r", data=fashion, subscribers=[events.append]).run()
    warned = any(isinstance(e, Log) and "no native bfloat16" in e.message for e in events)
    assert warned == (not cpu_has_native_bf16())


def test_a_single_process_run_states_its_batch_and_learning_rates_plainly(fashion, tmp_path):
    """One process has no effective batch to multiply out and no learning-rate scaling to name."""
    events = []
    Trainer(small(steps=1, lr=1e-3), run_dir=tmp_path / "r", data=fashion, subscribers=[events.append]).run()
    lines = [e.message for e in events if isinstance(e, Log)]
    assert "1 step (0.00053 epochs); batch 32; learning rates G 0.001, D 0.001" in lines
    assert not any("process(es)" in line or "scaling" in line for line in lines)


def test_a_run_states_its_length_in_epochs_and_steps(fashion, tmp_path):
    """The bar counts steps: the start says what they are in epochs, and the time budget that may end them first."""
    events = []
    trainer = Trainer(small(epochs=2, minutes=5), run_dir=tmp_path / "r", data=fashion, subscribers=[events.append])
    trainer.subscribe(lambda event: trainer.request_stop())
    trainer.run()
    assert any(isinstance(e, Log) and e.message.startswith("3,750 steps = 2 epochs x 1,875, at most 5 minutes; batch 32")
               for e in events), [e for e in events if isinstance(e, Log)]


def test_a_diverged_run_names_a_command_that_forks_it_with_a_lower_learning_rate(fashion, tmp_path, capsys):
    """After a NaN the error named the last good checkpoint and said "resume from it with a lower --lr", which a
    resume refuses (a run's options are fixed): it gives the fork command instead, and that command is accepted."""
    import shlex

    from dcgan.cli import main

    events = []
    trainer = Trainer(small(steps=20, checkpoint_every=5, lr=2e-3), run_dir=tmp_path / "run", data=fashion,
                      subscribers=[events.append])

    def poison(event):
        if isinstance(event, StepMetrics) and event.step == 7:
            with torch.no_grad():
                next(trainer.D.parameters()).fill_(float("nan"))

    trainer.subscribe(poison)
    assert trainer.run() == "failed"
    message = events[-1].message
    assert "resume" not in message
    command = message.split(": dcgan train ")[1].split(";")[0]
    assert command.endswith("--checkpoint step-0000005.pt --lr 0.001")
    assert main(["train", *shlex.split(command), "--dry-run", "--no-progress"]) == 0
    assert "lr = 0.001" in capsys.readouterr().out


def test_checkpoint_now_is_written_after_the_current_step(fashion, tmp_path):
    trainer = None

    def on_event(e):
        if isinstance(e, StepMetrics) and e.step == 3:
            trainer.request_checkpoint()

    trainer = Trainer(small(steps=6, checkpoint_every=1000), run_dir=tmp_path / "r", data=fashion,
                      subscribers=[on_event])
    trainer.run()
    # The request made while step 3 was reported is served before step 4 starts.
    assert {p.name for p in (tmp_path / "r" / "checkpoints").glob("*.pt")} == {"step-0000003.pt",
                                                                                "step-0000006.pt"}


def test_old_checkpoints_are_pruned(fashion, tmp_path):
    Trainer(small(steps=10, checkpoint_every=2, keep_checkpoints=2), run_dir=tmp_path / "r", data=fashion).run()
    assert sorted(p.name for p in (tmp_path / "r" / "checkpoints").glob("*.pt")) == [
        "step-0000008.pt", "step-0000010.pt"]


def test_resume_and_fork_take_a_checkpoint_by_its_name_in_the_run(fashion, tmp_path):
    """--checkpoint step-0000004.pt: the name `ls runs/<name>/checkpoints` shows is looked for in the run."""
    Trainer(small(steps=6, checkpoint_every=2), run_dir=tmp_path / "r", data=fashion).run()
    resumed = Trainer.resume(tmp_path / "r", steps=8, checkpoint="step-0000004.pt", data=fashion)
    assert resumed.resume_from == tmp_path / "r" / "checkpoints" / "step-0000004.pt"
    forked = Trainer.fork(tmp_path / "r", {"lr": 5e-4}, checkpoint="step-0000002.pt", run_dir=tmp_path / "f",
                          data=fashion)
    assert forked.resume_from == tmp_path / "r" / "checkpoints" / "step-0000002.pt"
    with pytest.raises(CheckpointError, match="step-0000005.pt does not exist"):
        Trainer.resume(tmp_path / "r", steps=8, checkpoint="step-0000005.pt", data=fashion)


def test_resuming_an_earlier_checkpoint_warns_that_the_run_rewinds(fashion, tmp_path):
    Trainer(small(steps=6, checkpoint_every=2), run_dir=tmp_path / "r", data=fashion).run()
    Trainer.resume(tmp_path / "r", steps=6, checkpoint="step-0000004.pt", data=fashion).run()
    log = (tmp_path / "r" / "log.txt").read_text()
    assert ("resumed at step 4, before the run's last checkpoint (step 6): the steps after 4 are trained again and "
            "their logged metrics replaced; `dcgan train --fork") in log
    Trainer.resume(tmp_path / "r", steps=8, data=fashion).run()  # from its last: no warning
    assert log.count("before the run's last checkpoint") == (tmp_path / "r" / "log.txt").read_text().count(
        "before the run's last checkpoint") == 1


def test_resuming_a_checkpoint_file_names_its_run(fashion, tmp_path):
    Trainer(small(steps=2), run_dir=tmp_path / "r", data=fashion).run()
    file = tmp_path / "r" / "checkpoints" / "step-0000002.pt"
    with pytest.raises(CheckpointError, match=f"is a checkpoint; resume its run with --resume {tmp_path / 'r'} "
                                              f"--checkpoint step-0000002.pt"):
        Trainer.resume(file, steps=4, data=fashion)


def test_exported_generator_matches_the_checkpoint(fashion, tmp_path):
    Trainer(small(steps=5), run_dir=tmp_path / "r", data=fashion).run()
    from_run = load_generator(tmp_path / "r").sample(8, seed=3)
    from_export = load_generator(tmp_path / "r" / "generator.safetensors").sample(8, seed=3)
    assert torch.equal(from_run.tensor, from_export.tensor)
    assert from_run.tensor.shape == (8, 1, 28, 28)
    assert from_run._repr_png_().startswith(b"\x89PNG")


def test_tensorboard_event_files_hold_scalars_and_grids(fashion, tmp_path):
    """Scalars under the metrics' own names: a TensorBoard tag is the metrics.jsonl key."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    Trainer(small(steps=12, sample_every=6, tensorboard=True), run_dir=tmp_path / "r", data=fashion).run()
    acc = EventAccumulator(str(tmp_path / "r"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    logged = set(steps_rows(tmp_path / "r")[-1]) - NOT_METRICS
    assert {"loss/D", "loss/G", "D/real", "D/fake"} <= logged <= set(acc.Tags()["scalars"])
    assert len(acc.Scalars("loss/D")) == 12
    assert [i.step for i in acc.Images("samples/fixed noise")] == [0, 6, 12]


def test_wandb_offline_logs_the_run(fashion, tmp_path):
    Trainer(small(steps=4, wandb=True), run_dir=tmp_path / "r", data=fashion).run()
    offline = list((tmp_path / "r" / "wandb").glob("offline-run-*"))
    assert offline and list(offline[0].glob("*.wandb"))


def test_dataset_smaller_than_a_batch_is_a_clear_error(fashion, tmp_path):
    from dcgan.data import ImageData
    from dcgan.errors import DataError

    with pytest.raises(DataError, match="fewer than one step needs"):
        Trainer(small(steps=1, batch_size=64), run_dir=tmp_path / "r", data=ImageData(fashion.images[:10])).setup()
    assert not (tmp_path / "r").exists()
