"""The run folder: its safety (issue 18: no file is read or written through a link that leads outside it, and one
trainer writes a run at a time, a lock the kernel releases when its process dies, kill -9 included) and its layout
(issue 19: every file's name and format in one module, read back as written, old folders included)."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from dcgan import TrainConfig, Trainer
from dcgan.checkpoint import _temp_file, checkpoint_name
from dcgan.errors import CheckpointError, ConfigError, RunBusyError, RunFolderError
from dcgan.events import EpochEnd, HyperparameterChanged, Log, StepMetrics
from dcgan.rundir import (LOCK_FILE, NOT_METRICS, RowEvent, RunFolder, RunLock, check_links, checkpoint_in, event_row,
                          holder, inside, links_out, log_line, make_run_folder, parse_log_line, parse_rows,
                          read_appended, row_event, sample_name, step_of, unique_run_dir)
from dcgan.vocabulary import STEP_METRICS
from conftest import write_long_metrics

LOCK_HOLDER = ("import sys, time\n"
               "from dcgan.rundir import RunLock\n"
               "lock = RunLock(sys.argv[1]).acquire()\n"
               "print('locked', flush=True)\n"
               "time.sleep(600)\n")


def small(**kw):
    return TrainConfig(**{**dict(seed=3, batch_size=32, g_width=8, d_width=8, latent_dim=16, log_every=1,
                                 tensorboard=False, sample_count=16), **kw})


def test_a_link_out_of_the_run_folder_is_refused_and_one_inside_is_followed(tmp_path):
    run, secret = tmp_path / "run", tmp_path / "secret.txt"
    (run / "samples").mkdir(parents=True)
    secret.write_text("secret")
    (run / "log.txt").symlink_to(secret)
    (run / "samples" / "step-0000001.png").symlink_to(run / "log.txt")  # inside, but on to the secret
    (run / "samples" / "step-0000002.png").write_bytes(b"png")
    (run / "samples" / "step-0000003.png").symlink_to("step-0000002.png")
    for parts in (("log.txt",), ("samples", "step-0000001.png"), ("..", "secret.txt")):
        with pytest.raises(RunFolderError, match="leads outside the run folder"):
            inside(run, *parts)
    assert inside(run, "samples", "step-0000003.png") == (run / "samples" / "step-0000002.png").resolve()
    (run / "dangling").symlink_to(tmp_path / "nothing")
    assert links_out(run) == ["dangling", "log.txt", "samples/step-0000001.png"]


def test_a_lock_refuses_a_second_writer_until_it_is_released(tmp_path):
    first = RunLock(tmp_path).acquire()
    assert holder(tmp_path).pid == os.getpid()
    with pytest.raises(RunBusyError, match=f"being trained by process {os.getpid()} on "):
        RunLock(tmp_path).acquire()
    first.release()
    assert holder(tmp_path) is None
    RunLock(tmp_path).acquire().release()


def test_a_lock_whose_process_was_killed_is_taken_over(tmp_path):
    process = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(tmp_path)], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout.readline().strip() == "locked"
        assert holder(tmp_path).pid == process.pid
        with pytest.raises(RunBusyError, match=f"process {process.pid}"):
            RunLock(tmp_path).acquire()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
    assert (tmp_path / LOCK_FILE).exists()  # the file stays; its lock ended with the process
    assert holder(tmp_path) is None
    RunLock(tmp_path).acquire().release()


def test_the_lock_file_itself_may_not_be_a_link(tmp_path):
    (tmp_path / "elsewhere").write_text("")
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / LOCK_FILE).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunFolderError):
        RunLock(tmp_path / "run").acquire()


def test_a_trainer_holds_its_run_while_it_trains_and_lets_go_at_the_end(fashion, tmp_path):
    seen = []
    trainer = Trainer(small(steps=3), run_dir=tmp_path / "r", data=fashion,
                      subscribers=[lambda e: seen.append(holder(tmp_path / "r"))])
    assert trainer.run() == "finished"
    assert {h.pid for h in seen if h is not None} == {os.getpid()} and seen[-1] is not None
    assert holder(tmp_path / "r") is None


def test_resume_refuses_while_another_trainer_writes_the_run(fashion, tmp_path):
    Trainer(small(steps=2), run_dir=tmp_path / "r", data=fashion).run()
    held = RunLock(tmp_path / "r").acquire()
    with pytest.raises(RunBusyError, match="one trainer writes a run at a time"):
        Trainer.resume(tmp_path / "r", steps=4, data=fashion)
    held.release()
    assert Trainer.resume(tmp_path / "r", steps=4, data=fashion).run() == "finished"


def test_resume_never_appends_through_a_planted_link(fashion, tmp_path):
    Trainer(small(steps=2), run_dir=tmp_path / "r", data=fashion).run()
    secret = tmp_path / "passwd"
    secret.write_text("root:x:0:0\n")
    (tmp_path / "r" / "log.txt").unlink()
    (tmp_path / "r" / "log.txt").symlink_to(secret)
    with pytest.raises(RunFolderError, match=r"holds a link that leads outside its folder \(log.txt\)"):
        Trainer.resume(tmp_path / "r", steps=4, data=fashion)
    with pytest.raises(RunFolderError):
        check_links(tmp_path / "r")
    assert secret.read_text() == "root:x:0:0\n"


# --- The layout and formats: one module writes and reads every file of a run ----------------------------------

def test_every_logged_event_reads_back_from_its_metrics_row():
    """The multi-process follower turns metrics.jsonl rows back into the events that wrote them."""
    events = [StepMetrics(7, 1, {"loss/D": 1.25, "loss/G": float("nan"), "D/real": float("inf")}, manual="d"),
              HyperparameterChanged(7, "lr_d", 2e-4, 1e-4), EpochEnd(9, 2, 12.5)]
    back = [row_event(json.loads(json.dumps(event_row(e)))) for e in events]
    step, change, epoch = back
    assert (step.step, step.epoch, step.manual, step.metrics["loss/D"]) == (7, 1, "d", 1.25)
    assert math.isnan(step.metrics["loss/G"]) and step.metrics["D/real"] == math.inf  # NaN/inf survive JSON
    assert (change.step, change.field, change.old, change.new) == (7, "lr_d", 2e-4, 1e-4)
    assert (epoch.step, epoch.epoch, epoch.seconds) == (9, 2, 12.5)
    assert event_row(Log("info", "not a row")) is None


def test_a_row_of_an_unknown_kind_is_forwarded_as_data_and_a_row_without_a_step_is_skipped():
    row = {"event": "eval", "step": 40, "fid": 31.5}
    event = row_event(row)
    assert isinstance(event, RowEvent) and (event.kind, event.step, event.data) == ("eval", 40, row)
    assert row_event({"event": "epoch", "step": "x"}) is None


def test_log_lines_read_back_with_their_level():
    assert parse_log_line(log_line("warning", "health: D overpowers G").rstrip("\n")) == (
        "warning", "health: D overpowers G")
    assert parse_log_line("a message's second line") == ("info", "a message's second line")


def test_the_step_of_a_sample_or_checkpoint_is_read_from_its_name():
    assert step_of(sample_name(1234)) == 1234 and sample_name(1234) == "step-0001234.png"
    assert step_of(Path("runs/x/checkpoints") / checkpoint_name(1000)) == 1000


def test_new_run_folders_are_named_by_dataset_size_and_time_and_never_reused(tmp_path):
    first = unique_run_dir(tmp_path, small(dataset="folder:/home/me/my pictures/", image_size=64).resolved())
    first.mkdir()
    second = unique_run_dir(tmp_path, small(dataset="folder:/home/me/my pictures/", image_size=64).resolved())
    assert first.name.startswith("my-pictures-64-") and second != first and not second.exists()


def test_a_run_folder_written_by_an_earlier_version_is_read(tmp_path):
    """The files as dcgan has written them since they exist (no new field is required to read one): rows with a
    torn last line and NaN as a string, log lines, grids, a checkpoint pointer."""
    run = tmp_path / "old"
    (run / "samples").mkdir(parents=True)
    (run / "checkpoints").mkdir()
    (run / "config.json").write_text(json.dumps({"dataset": "fashion-mnist", "image_size": 28, "seed": 1}))
    (run / "metrics.jsonl").write_text(
        '{"step": 10, "epoch": 0, "time": 1.0, "loss_D": 1.3, "loss_G": "nan"}\n'
        '{"event": "epoch", "step": 10, "epoch": 1, "epoch_time_s": 2.5, "time": 2.0}\n'
        '{"step": 20, "epoch": 1, "ti')
    (run / "log.txt").write_text("info: device: cpu\nerror: training failed\nTraceback line\n")
    (run / "status.json").write_text(json.dumps({"status": "stopped", "step": 10, "total_steps": 40}))
    (run / "changes.json").write_text(json.dumps([{"step": 5, "field": "lr", "old": 2e-4, "new": 1e-4}]))
    for step in (0, 10):
        (run / "samples" / f"step-{step:07d}.png").write_bytes(b"png")
    (run / "checkpoints" / "step-0000010.pt").write_bytes(b"pt")
    (run / "checkpoints" / "last").write_text("step-0000010.pt\n")
    folder = RunFolder(run)
    assert folder.has_config() and folder.config_values()["seed"] == 1
    assert [r["step"] for r in folder.rows()] == [10, 10]  # the torn row is left out
    assert folder.rows()[0]["loss/D"] == 1.3 and "loss_D" not in folder.rows()[0]  # read by today's names
    assert folder.log_tail(2) == [("error", "training failed"), ("info", "Traceback line")]
    assert folder.status()["status"] == "stopped" and folder.changes()[0]["field"] == "lr"
    assert folder.sample_steps() == [0, 10] and folder.last_checkpoint_step() == 10
    assert folder.record() is None and folder.evaluation() is None  # runs made before run.json and eval.json


def test_an_older_runs_metric_names_read_as_todays_everywhere_rows_are_read(tmp_path):
    """metrics.jsonl written before the slash names: its step rows read with today's names, through the one
    reader every other reads through (the run list and detail, curves, compare, a resume, and the multi-process
    follower, which turns the rows back into events); other rows keep their fields."""
    old = {"step": 3, "epoch": 0, "time": 1.5, "loss_D": 1.2, "loss_G": 0.8, "D_x": 0.6, "D_G_z": 0.4,
           "D_G_z_before": 0.41, "D_G_z_after": 0.43, "lr_G": 2e-4, "lr_D": 2e-4, "images_per_s": 950.0,
           "loss_ratio": 0.67, "gp": 0.1, "W_distance": 0.3, "r1": 0.05, "eval/fid": 90.0}
    change = {"event": "hparam", "step": 3, "field": "lr_d", "old": 2e-4, "new": 1e-4, "time": 2.0}
    (tmp_path / "metrics.jsonl").write_text(json.dumps(old) + "\n" + json.dumps(change) + "\n")
    row, hparam = RunFolder(tmp_path).rows()
    assert row == {"step": 3, "epoch": 0, "time": 1.5, "loss/D": 1.2, "loss/G": 0.8, "D/real": 0.6, "D/fake": 0.4,
                   "D/fake_before_G": 0.41, "D/fake_after_G": 0.43, "lr/G": 2e-4, "lr/D": 2e-4,
                   "speed/images_per_s": 950.0, "loss/ratio": 0.67, "penalty/gp": 0.1, "D/W_distance": 0.3,
                   "penalty/r1": 0.05, "eval/fid": 90.0}
    assert set(row) - NOT_METRICS <= set(STEP_METRICS) | {"eval/fid"}
    assert hparam == change
    followed = row_event(parse_rows([json.dumps(old)])[0])
    assert isinstance(followed, StepMetrics) and followed.metrics["D/real"] == 0.6 and "D_x" not in followed.metrics


def test_a_damaged_changes_file_stops_a_resume_with_what_to_do(tmp_path):
    """Torn, or JSON of another shape (a hand edit, another tool's file): one error, never a TypeError from deep
    in the resume."""
    for text in ("[{", '{"lr": 1}', '["lr"]', '[{"step": 3}]', '[{"step": "x", "field": "lr", "old": 1, "new": 2}]'):
        (tmp_path / "changes.json").write_text(text)
        with pytest.raises(CheckpointError, match="delete it to resume"):
            RunFolder(tmp_path).changes()
    (tmp_path / "changes.json").write_text('[{"step": 3, "field": "lr", "old": 0.001, "new": 0.002}]')
    assert RunFolder(tmp_path).changes() == [{"step": 3, "field": "lr", "old": 0.001, "new": 0.002}]


def test_damaged_metrics_rows_are_left_out_and_a_resume_drops_them(tmp_path):
    """Bytes that are not UTF-8, JSON that is not a row, a step that is not a number: each line is left out by
    every reader (the run list, curves, the follower) and by a resume's trim, which used to stop on them."""
    (tmp_path / "metrics.jsonl").write_bytes(b'{"step": 1}\n\xff\xfe garbage\n[1]\n{"step": "x"}\n'
                                             b'{"step": 2, "loss/D": "nan"}\n{"step": 3}\n{"step": 4')
    folder = RunFolder(tmp_path)
    assert [r["step"] for r in folder.rows()] == [1, 2, 3]
    assert [r["step"] for r in folder.stored_rows()] == [1, 2, 3]
    folder.truncate_rows(2)
    assert (tmp_path / "metrics.jsonl").read_text() == '{"step": 1}\n{"step": 2, "loss/D": "nan"}\n'


def test_appended_lines_are_read_once_and_a_rewritten_file_from_its_start(tmp_path):
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"step": 1}\n{"step": 2')
    lines, at = read_appended(path, 0)
    assert lines == ['{"step": 1}']  # the line being written waits for its end
    with open(path, "a") as f:
        f.write("}\n")
    lines, at = read_appended(path, at)
    assert lines == ['{"step": 2}']
    path.write_text('{"step": 1}\n')  # a resume trimmed it
    assert read_appended(path, at)[0] == ['{"step": 1}']


def test_a_resume_trims_a_long_metrics_file_as_it_streams_past(tmp_path):
    """Resuming at step 30 000 of a run that logged 60 000 steps drops the later rows (they are logged again) by
    streaming the file into its replacement: a few MiB held, not the ~100 MiB of Python rows the file makes. An
    older run's names come back as today's."""
    row = {"epoch": 0, "time": 1.7e9, "D_x": 0.69, "D/fake": 0.07, "loss/G": 2.85, "speed/images_per_s": 1791.3,
           "lr/G": 0.001, "lr/D": 0.001, "loss/ratio": 5.51, "D/fake_after_G": 0.69, "D/fake_before_G": 0.07}
    write_long_metrics(tmp_path / "metrics.jsonl", row, {1000: {"event": "epoch"}})
    tracemalloc.start()
    try:
        RunFolder(tmp_path).truncate_rows(30_000)
        held = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    rows = RunFolder(tmp_path).rows()
    assert [r["step"] for r in rows if "event" not in r] == list(range(1, 30_001))
    assert len([r for r in rows if r.get("event") == "epoch"]) == 30 and rows[-1]["step"] == 30_000
    assert rows[0]["D/real"] == 0.69 and "D_x" not in rows[0]
    assert held < 16 * 2**20, f"{held / 2**20:.0f} MiB held to trim the file"


def test_a_run_folder_is_made_where_no_file_is_in_the_way(tmp_path):
    make_run_folder(tmp_path / "runs" / "a")
    assert (tmp_path / "runs" / "a").is_dir()
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match=r"--run-dir: .*file is a file, not a folder; choose a folder") as e:
        make_run_folder(tmp_path / "file")
    assert e.value.field == "run_dir"
    with pytest.raises(ConfigError, match=r"--runs-dir: .*file/r is inside .*file, a file, not a folder") as e:
        make_run_folder(tmp_path / "file" / "r", "--runs-dir")
    assert e.value.field == "runs_dir"


def test_a_run_folder_is_new_empty_or_a_run_never_a_folder_of_other_files(tmp_path):
    """What a failed opening (its lock, an empty checkpoints/) or a multi-process launcher (console.txt) left is
    no obstacle; anything else would be mixed with the run's files and is refused."""
    folder = tmp_path / "a"
    (folder / "checkpoints").mkdir(parents=True)
    (folder / LOCK_FILE).write_text("")
    (folder / "console.txt").write_text("")
    os.close(_temp_file(folder / "config.json")[0])  # a run killed while writing its config.json (its temp file)
    make_run_folder(folder)
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"--run-dir: .*a is not a run and holds other files \(notes.txt\); "
                                          r"give a new or empty folder") as e:
        make_run_folder(folder)
    assert e.value.field == "run_dir"
    (folder / "config.json").write_text("{}")  # a run: its caller decides whether it may continue it
    make_run_folder(folder)


def test_a_checkpoint_of_another_run_is_refused(tmp_path):
    """An export's card, eval.json or a resume made from it would carry this run's name and record."""
    for run in ("a", "b"):
        (tmp_path / run / "checkpoints").mkdir(parents=True)
        (tmp_path / run / "config.json").write_text("{}")
        (tmp_path / run / "checkpoints" / "step-0000004.pt").write_bytes(b"")
    other = tmp_path / "b" / "checkpoints" / "step-0000004.pt"
    with pytest.raises(CheckpointError, match=r"--checkpoint .*b/checkpoints/step-0000004.pt is a checkpoint of the "
                                              r"run .*b, not of .*a: give one of .*a's \(ls .*a/checkpoints\)"):
        checkpoint_in(tmp_path / "a", other)
    assert checkpoint_in(tmp_path / "a", "step-0000004.pt") == (tmp_path / "a" / "checkpoints" /
                                                                "step-0000004.pt").resolve()
    assert checkpoint_in(tmp_path / "b", other) == other  # its own run's, by path
    loose = tmp_path / "copy.pt"  # a file outside any run: nothing to compare with
    loose.write_bytes(b"")
    assert checkpoint_in(tmp_path / "a", loose) == loose
