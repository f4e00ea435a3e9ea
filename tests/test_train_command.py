"""`dcgan train` as a command: what a dry run prints and leaves on disk, where a run may be written, what a resume
counts as a change, and --world-size against the processes actually launched."""

import json
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import FIXED_THREADS, run_cli, write_celeba_layout
from dcgan.cli import main

TINY = ["--batch-size", "32", "--g-width", "16", "--d-width", "16", "--no-tensorboard", "--no-progress"]


def files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def write_images(folder: Path, n: int = 40) -> None:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (28, 28, 3), dtype=np.uint8)).save(folder / f"{i}.png")


@pytest.fixture
def small_run(tmp_path):
    """A real 2-step run made by the CLI with seed 0 and --log-every 50."""
    assert main(["train", "--steps", "2", "--seed", "0", "--log-every", "50", "--run-dir", "runs/a", *TINY]) == 0
    return tmp_path / "runs" / "a"


# --- Dry runs -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("args,words", [
    (["--dataset", "folder:/nonexistent"], "image folder /nonexistent does not exist"),
    pytest.param(["--device", "cuda"], "no CUDA GPU is available",
                 marks=pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")),
])
def test_a_failed_dry_run_prints_no_config(tmp_path, capsys, args, words):
    """`--dry-run > my.toml` that fails leaves my.toml empty (no config that looks good) and prints one line."""
    assert main(["train", "--dry-run", *args, *TINY]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.strip().splitlines() == [next(l for l in err.splitlines() if words in l)]
    assert list(tmp_path.iterdir()) == []


def test_a_dry_run_on_a_folder_of_images_writes_no_decode_cache(tmp_path, capsys):
    write_images(tmp_path / "imgs")
    before = files(tmp_path)
    assert main(["train", "--dry-run", "--dataset", "folder:imgs", *TINY]) == 0
    assert tomllib.loads(capsys.readouterr().out)["dataset"] == "folder:imgs"
    assert files(tmp_path) == before and not (tmp_path / "data").exists()


def test_a_conditional_dry_run_prints_the_summary_with_the_class_embedding(tmp_path, capsys):
    """`dcgan train --conditional --dry-run` measures G and D with class labels (it was a traceback)."""
    write_images(tmp_path / "imgs" / "cats", n=20)
    write_images(tmp_path / "imgs" / "dogs", n=20)
    assert main(["train", "--dry-run", "--conditional", "--dataset", "folder:imgs", *TINY]) == 0
    out, err = capsys.readouterr()
    assert tomllib.loads(out)["conditional"] is True
    assert "  embed         Embedding         50" in err and "Traceback" not in err


def test_a_dry_run_on_celeba_writes_no_decode_cache(tmp_path, capsys):
    """CelebA's JPEGs are decoded and cached as a folder's are: a dry run reads them and leaves no cache."""
    write_celeba_layout(tmp_path / "data")
    before = files(tmp_path)
    assert main(["train", "--dry-run", "--dataset", "celeba", "--data-dir", "data", "--batch-size", "4",
                 "--g-width", "8", "--d-width", "8", "--no-tensorboard", "--no-progress"]) == 0
    assert tomllib.loads(capsys.readouterr().out)["dataset"] == "celeba"
    assert files(tmp_path) == before and not (tmp_path / "data" / ".dcgan-cache").exists()


def test_a_dry_run_of_a_resume_or_a_fork_writes_nothing(small_run, tmp_path, capsys):
    before = files(tmp_path)
    assert main(["train", "--resume", "runs/a", "--steps", "4", "--dry-run"]) == 0
    assert main(["train", "--fork", "runs/a", "--steps", "4", "--dry-run"]) == 0
    assert files(tmp_path) == before and sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["a"]


@pytest.mark.parametrize("args", [TINY, ["--fork", "runs/a", "--steps", "4"],
                                  ["--dataset", "folder:/nonexistent", *TINY]], ids=["new", "fork", "bad-data-too"])
@pytest.mark.parametrize("dry", [["--dry-run"], []], ids=["dry-run", "run"])
def test_a_run_folder_a_run_would_refuse_is_refused_first(small_run, tmp_path, capsys, args, dry):
    """The trainer's own check (Trainer.check_run_dir), asked by a dry run too, before the data loads."""
    assert main(["train", *dry, "--run-dir", "runs/a", *args]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "runs/a already holds a run; resume it with --resume runs/a" in err


def test_a_dry_run_of_several_processes_prints_the_config_once(tmp_path):
    """--nproc 2 --dry-run: both processes take the step, the first alone prints, so the file reads back."""
    result = run_cli("train", "--dry-run", "--nproc", "2", "--force-nproc", *TINY, cwd=tmp_path, env=FIXED_THREADS)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.count("batch_size = 32") == 1 and tomllib.loads(result.stdout)["g_width"] == 16
    assert result.stderr.count("generator:") == 1 and result.stderr.count("one step:") == 1
    (tmp_path / "np.toml").write_text(result.stdout)
    assert main(["train", "--config", "np.toml", "--dry-run"]) == 0


# --- The run folder ------------------------------------------------------------------------------------------

def test_an_empty_run_dir_is_refused_instead_of_training_into_the_current_folder(tmp_path, capsys):
    assert main(["train", "--steps", "2", "--run-dir", "", *TINY]) == 2
    assert "--run-dir is empty" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_folder_of_other_files_is_refused_as_a_run_folder(tmp_path, capsys):
    (tmp_path / "notrun").mkdir()
    (tmp_path / "notrun" / "mine.txt").write_text("mine")
    assert main(["train", "--steps", "2", "--run-dir", "notrun", *TINY]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [
        "dcgan train: error: --run-dir: notrun is not a run and holds other files (mine.txt); give a new or empty "
        "folder for a new run (or --resume a run folder)"]
    assert [p.name for p in (tmp_path / "notrun").iterdir()] == ["mine.txt"]
    (tmp_path / "empty").mkdir()
    assert main(["train", "--steps", "2", "--run-dir", "empty", *TINY]) == 0
    assert (tmp_path / "empty" / "config.json").is_file()


# --- Resuming ------------------------------------------------------------------------------------------------

def test_a_resume_accepts_options_equal_to_the_runs_own(small_run, capsys):
    """--seed 0 for a run made with seed 0, --log-every 50 for one made with 50, --image-size 28 for one that
    derived 28: no change, so no refusal; a different value still is one."""
    assert main(["train", "--resume", "runs/a", "--steps", "3", "--seed", "0", "--log-every", "50",
                 "--image-size", "28", *TINY]) == 0
    assert json.loads((small_run / "status.json").read_text())["step"] == 3
    capsys.readouterr()
    assert main(["train", "--resume", "runs/a", "--steps", "4", "--seed", "1"]) == 2
    assert "--seed cannot change when resuming (the run's config.json fixes it at 0)" in capsys.readouterr().err


def test_a_resume_that_extended_the_run_and_was_killed_is_continued_to_the_new_length(small_run, capsys):
    """config.json holds the total a session extended the run to before its first checkpoint recorded it: a plain
    --resume afterwards trains to that total (it said the run was already at step 2 of 2)."""
    from dcgan.events import RunStarted
    from dcgan.training import Trainer

    def killed(event):  # as soon as the session has opened the folder (and written config.json)
        if isinstance(event, RunStarted):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        Trainer.resume("runs/a", steps=6, subscribers=[killed]).run()
    assert json.loads((small_run / "config.json").read_text())["steps"] == 6
    assert main(["train", "--resume", "runs/a", "--no-progress"]) == 0
    assert json.loads((small_run / "status.json").read_text())["step"] == 6


# --- Processes -----------------------------------------------------------------------------------------------

def test_a_world_size_the_launch_does_not_give_is_refused_not_reset(tmp_path, capsys):
    assert main(["train", "--steps", "2", "--world-size", "2", *TINY]) == 2
    err = capsys.readouterr().err
    assert "--world-size 2, but this command trains as 1 process" in err and "--nproc 2" in err
    (tmp_path / "w.toml").write_text("world_size = 2\n")
    assert main(["train", "--config", "w.toml", "--steps", "2", *TINY]) == 2
    assert "w.toml: world_size = 2, but this command trains as 1 process" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()
    assert main(["train", "--steps", "2", "--world-size", "1", "--run-dir", "runs/one", *TINY]) == 0
    assert json.loads((tmp_path / "runs" / "one" / "config.json").read_text())["world_size"] == 1


def test_a_full_disk_stops_the_run_in_one_line_and_keeps_its_checkpoint(tmp_path, capsys, monkeypatch):
    """A run folder that can take no more (its metrics file here) fails the run at once, in one line saying what
    to do and where a resume continues: not a warning a step while the record is lost, nor a traceback."""
    import errno

    from dcgan.rundir import RunFolder

    append_row = RunFolder.append_row

    def full_after_step_5(folder, row):
        if row.get("step", 0) > 5:
            raise OSError(errno.ENOSPC, "No space left on device", str(folder.file("metrics.jsonl")))
        append_row(folder, row)

    monkeypatch.setattr(RunFolder, "append_row", full_after_step_5)
    assert main(["train", "--run-dir", "r", "--steps", "50", "--checkpoint-every", "4", "--log-every", "1",
                 *TINY]) == 1
    err = capsys.readouterr().err
    assert "subscriber failed" not in err and "Traceback" not in err, err
    last = err.splitlines()[-1]
    assert last.startswith("dcgan train: error: No space left on device (") and last.endswith(
        "metrics.jsonl); free some space on that disk, or choose a folder on another one; then continue from "
        "step 4 with --resume r"), last
    status = json.loads((tmp_path / "r" / "status.json").read_text())
    assert status["status"] == "failed" and status["message"].endswith("a resume continues from step 4, its last "
                                                                       "checkpoint")


def test_a_finished_run_says_where_its_grids_are_and_how_to_make_more(capsys):
    """The last lines of a run point at what to look at and the next command: its grids and `dcgan generate`."""
    main(["train", "--steps", "2", "--seed", "0", "--run-dir", "runs/b", *TINY])
    out, err = capsys.readouterr()
    assert out == "run folder: runs/b\n"  # stdout: the folder alone, for scripts
    assert err.splitlines()[-1] == "look at runs/b/progress.gif; more samples: dcgan generate runs/b --grid samples.png"


def test_a_run_ended_before_its_last_step_says_how_to_continue_it(capsys):
    """A --minutes budget (as Ctrl-C does) ends a run early: the last line is the command that continues it."""
    main(["train", "--steps", "100000", "--minutes", "0.001", "--seed", "0", "--run-dir", "runs/c", *TINY])
    assert capsys.readouterr().err.splitlines()[-1] == "continue it: dcgan train --resume runs/c"
