import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from blocked_imports import env_without
from conftest import FIXED_THREADS, HANG_S, ROOT, run_cli, until
from dcgan.cli import COMMANDS
from dcgan.config import TrainConfig
from dcgan.datasets import data_home
from dcgan.rundir import RunLock, read_metrics

TINY = ["--batch-size", "32", "--g-width", "16", "--d-width", "16", "--seed", "3", "--no-tensorboard"]


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """One real tiny run made by the CLI, shared by the tests that only read it."""
    cwd = tmp_path_factory.mktemp("cli")
    result = run_cli("train", "--steps", "20", "--run-dir", "runs/tiny", "--no-progress", *TINY, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return cwd / "runs" / "tiny"


def test_train_prints_the_device_and_writes_the_run(trained_run):
    assert json.loads((trained_run / "config.json").read_text())["steps"] == 20
    assert (trained_run / "checkpoints" / "last").is_file()


def test_train_shows_a_progress_bar_with_live_losses(tmp_path):
    result = run_cli("train", "--steps", "12", "--log-every", "4", *TINY, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "device: cpu" in result.stderr
    assert "loss_D" in result.stderr and "12/12" in result.stderr and "img/s" in result.stderr
    runs = list((tmp_path / "runs").iterdir())
    assert len(runs) == 1 and runs[0].name.startswith("fashion-mnist-28-")


@pytest.mark.parametrize("args,words,before_torch", [
    (["--dataset", "imagenet"], "unknown dataset 'imagenet'", True),
    (["--image-size", "30"], "--image-size must be one of", True),
    (["--dataset", "folder:/no/such/folder"], "does not exist", False),
    (["--lr", "-0.1"], "--lr must be > 0", True),
    (["--batch-size", "0"], "--batch-size must be >= 1", True),
    (["--lr", "fast"], "invalid float value", True),
    (["--epochs", "1", "--steps", "4"], "not both", True),
    (["--preset", "nope"], "invalid choice", True),
    (["--device", "cuda"], "no CUDA GPU", False),
])
def test_bad_input_is_one_line_exit_2_and_changes_nothing(trained_run, tmp_path, args, words, before_torch):
    """The options' own checks come before torch is imported (2 s and more on a 2-core machine): there torch,
    torchvision and numpy cannot be imported at all. What needs them (the folder's images, the device) after."""
    cwd = trained_run.parent.parent
    before = snapshot(cwd / "runs")
    env = env_without(tmp_path / "blocked", "torch", "torchvision", "numpy") if before_torch else None
    result = run_cli("train", "--steps", "5", *args, cwd=cwd, env=env)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], result.stderr
    assert "Traceback" not in result.stderr
    assert snapshot(cwd / "runs") == before


def test_a_misspelt_option_names_its_command_and_the_nearest_option(tmp_path):
    result = run_cli("train", "--stpes", "10", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dcgan train: error: unrecognized arguments: --stpes 10")
    assert "did you mean --steps?" in lines[0] and "`dcgan train --help`" in lines[0]
    assert not (tmp_path / "runs").exists()


def test_train_help_gives_each_default_or_says_how_it_is_chosen(tmp_path):
    """Options without a fixed default said "(default: see help)" beside a help that already says it (nine times)."""
    out = run_cli("train", "--help", cwd=tmp_path).stdout
    assert "see help" not in out
    assert "(default: 0.001)" in out and "default: the dataset's native" in out


def test_options_are_never_abbreviated(tmp_path):
    """`--class` is an option of generate, not of eval: eval took it for an abbreviation of its --classifier and
    refused "--classifier 3" as a missing weights file."""
    result = run_cli("eval", str(tmp_path / "runs" / "r"), "--class", "3", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip() == ("dcgan eval: error: unrecognized arguments: --class 3; did you mean "
                                     "--classifier? (see `dcgan eval --help`)"), result.stderr


def test_help_and_a_mistyped_command_answer_without_importing_torch(tmp_path):
    """`dcgan --help` lists every command with its line, a mistyped command is one line, and every command's
    --help answers, without importing torch (seconds): here torch, torchvision and numpy cannot be imported at
    all."""
    env = env_without(tmp_path / "blocked", "torch", "torchvision", "numpy")
    listed = run_cli("--help", env=env)
    assert listed.returncode == 0, listed.stderr
    listing = " ".join(listed.stdout.split())  # argparse wraps the lines
    for name, (_, help_line) in COMMANDS.items():
        assert f"{name} {help_line}" in listing, listed.stdout
    assert "Traceback" not in listed.stderr
    mistyped = run_cli("trian", env=env)
    assert mistyped.returncode == 2 and mistyped.stdout == ""
    assert mistyped.stderr.count("\n") == 1 and "invalid choice: 'trian'" in mistyped.stderr, mistyped.stderr
    served = run_cli("serve", "--help", env=env)
    assert served.returncode == 0 and "--request-timeout" in served.stdout, served.stderr
    trained = run_cli("train", "--help", env=env)  # the objectives' names and sources without their maths
    assert trained.returncode == 0 and "--minibatch-discrimination" in trained.stdout, trained.stderr
    assert "nonsaturating (Goodfellow 2014, default)" in " ".join(trained.stdout.split())
    evaluated = run_cli("eval", "--help", env=env)  # the metrics' and feature spaces' names
    assert evaluated.returncode == 0 and "fid, kid, pr, is" in evaluated.stdout, evaluated.stderr
    exported = run_cli("export", "--help", env=env)
    assert exported.returncode == 0 and "{onnx,torchscript,safetensors,page}" in exported.stdout, exported.stderr
    for name in COMMANDS:
        helped = run_cli(name, "--help", env=env)
        assert helped.returncode == 0 and f"usage: dcgan {name}" in helped.stdout, (name, helped.stderr)


@pytest.mark.parametrize("argv,near", [(["trian"], "'train'"), (["fetch", "minst"], "'mnist'"),
                                       (["train", "--preset", "papr"], "'paper'")])
def test_a_mistyped_command_or_choice_names_the_nearest_one(capsys, argv, near):
    from dcgan.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and err.count("\n") == 1 and f"; did you mean {near}? (see `dcgan" in err, err


def test_ctrl_c_before_training_starts_is_one_line(monkeypatch, capsys):
    """Ctrl-C while the command still imports and parses (seconds on a slow machine) ends with exit code 130 and
    one line, as it does during a command, not with an import's traceback."""
    from dcgan import cli

    def interrupted(argv):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["info"]) == 130
    assert capsys.readouterr().err == "interrupted\n"


def test_ctrl_c_while_torch_loads_stops_the_command(tmp_path):
    """A Ctrl-C that lands inside torch's import (here: once numpy's core is loaded, which torch's import does
    early) ends the command with exit code 130 and one line, and no run is started. Raised there, torch's import
    swallowed it and the run trained to its end."""
    proc = subprocess.Popen([sys.executable, "-m", "dcgan", "train", "--steps", "300", "--run-dir", "r",
                             "--no-progress"], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    maps = Path(f"/proc/{proc.pid}/maps")
    until(lambda: "_multiarray_umath" in maps.read_text(), "numpy's core loaded by torch's import", timeout_s=HANG_S)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=HANG_S)
    assert proc.returncode == 130 and err == "interrupted\n", err[-2000:]
    assert not (tmp_path / "r").exists()


def test_empty_and_unreadable_folders(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_bytes(b"not a jpeg")
    for folder, words in (("empty", "no images in"), ("junk", "could be read")):
        result = run_cli("train", "--dataset", f"folder:{tmp_path / folder}", "--steps", "1", cwd=tmp_path)
        assert result.returncode == 2 and words in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "runs").exists()


def test_the_cpu_fast_preset_ends_at_its_time_budget_and_resumes_with_a_new_one(tmp_path):
    """How many steps fit in the budget depends on the machine; that the budget ends the run with a checkpoint, and
    that a resume trains on under a budget of its own, does not (the budget is checked between steps, so a session
    takes at least one)."""
    result = run_cli("train", "--preset", "cpu-fast", "--minutes", "0.03", "--run-dir", "runs/fast", "--no-progress",
                     "--no-tensorboard", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "runs" / "fast"
    config = json.loads((run / "config.json").read_text())
    assert (config["minutes"], config["epochs"], config["batch_size"]) == (0.03, 100, TrainConfig().batch_size)

    def ended() -> int:
        status = json.loads((run / "status.json").read_text())
        assert status["status"] == "finished" and "-minute budget ended at step" in status["message"], status
        assert (run / "checkpoints" / "last").read_text().strip() == f"step-{status['step']:07d}.pt"
        return status["step"]

    first = ended()
    assert 0 < first < config["epochs"] * 60000 // config["batch_size"]
    result = run_cli("train", "--resume", str(run), "--minutes", "0.02", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    assert ended() > first


def test_resume_of_something_that_is_not_a_run(trained_run, tmp_path):
    (tmp_path / "notarun").mkdir()
    result = run_cli("train", "--resume", str(tmp_path / "notarun"), cwd=tmp_path)
    assert result.returncode == 2 and "is not a run folder" in result.stderr
    result = run_cli("train", "--resume", str(trained_run), "--lr", "0.1", cwd=tmp_path)
    assert result.returncode == 2 and "--lr cannot change when resuming" in result.stderr
    result = run_cli("train", "--resume", str(trained_run), cwd=tmp_path)
    assert result.returncode == 2 and "already at step 20" in result.stderr


def test_a_run_folder_where_a_file_is_or_a_fork_of_a_file_is_one_line_not_a_traceback(tmp_path):
    (tmp_path / "notes.txt").write_text("not a run")
    result = run_cli("train", "--run-dir", "notes.txt/run", "--steps", "2", *TINY, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "--run-dir: notes.txt/run is inside notes.txt, a file, not a folder" in result.stderr
    result = run_cli("train", "--fork", "notes.txt", "--steps", "2", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "notes.txt is not a checkpoint; a fork needs a run folder" in result.stderr
    assert "generator weights" not in result.stderr  # what it said of any file that was not a .pt


def test_resume_from_a_corrupt_checkpoint_changes_nothing(trained_run, tmp_path):
    import shutil

    run = tmp_path / "copy"
    shutil.copytree(trained_run, run)
    ckpt = run / "checkpoints" / (run / "checkpoints" / "last").read_text().strip()
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    before = snapshot(run)
    result = run_cli("train", "--resume", str(run), "--steps", "40", cwd=tmp_path)
    assert result.returncode == 2 and "is not a readable dcgan checkpoint: it is truncated" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert snapshot(run) == before


def test_a_killed_run_resumes_and_matches_an_uninterrupted_one(tmp_path):
    common = ["--steps", "60", "--log-every", "1", "--checkpoint-every", "10", "--no-progress", *TINY]
    assert run_cli("train", "--run-dir", "full", *common, cwd=tmp_path, env=FIXED_THREADS).returncode == 0
    proc = subprocess.Popen([sys.executable, "-m", "dcgan", "train", "--run-dir", "killed", *common], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **FIXED_THREADS})
    until(lambda: list((tmp_path / "killed" / "checkpoints").glob("step-0000020.pt")), "a checkpoint at step 20")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    result = run_cli("train", "--resume", "killed", cwd=tmp_path, env=FIXED_THREADS)
    assert result.returncode == 0, result.stderr
    key = lambda r: (r["step"], r["loss/D"], r["loss/G"], r["D/real"])  # noqa: E731
    full = [key(r) for r in read_metrics(tmp_path / "full" / "metrics.jsonl") if "loss/D" in r]
    killed = [key(r) for r in read_metrics(tmp_path / "killed" / "metrics.jsonl") if "loss/D" in r]
    assert killed == full  # no step twice, none missing, the same losses


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0(tmp_path):
    """No state to continue from, yet a killed run resumes: --run-dir and generate each say so in one line and send
    the user to --resume, leaving the folder as it was; --resume trains it again from step 0 in its folder."""
    proc = subprocess.Popen([sys.executable, "-m", "dcgan", "train", "--run-dir", "r", "--steps", "100000",
                             "--checkpoint-every", "0", "--no-progress", *TINY], cwd=tmp_path,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    until(lambda: (tmp_path / "r" / "metrics.jsonl").exists(), "a logged step")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not list((tmp_path / "r" / "checkpoints").iterdir())
    before = snapshot(tmp_path / "r")
    for args in (["train", "--run-dir", "r", "--steps", "5"], ["generate", "r"]):
        result = run_cli(*args, cwd=tmp_path)
        assert result.returncode == 2, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "before its first checkpoint" in lines[0], result.stderr
        assert "--resume r" in lines[0] and "step 0" in lines[0]
    assert snapshot(tmp_path / "r") == before
    # While a trainer still holds the run (here this process's lock), nothing says to delete it.
    lock = RunLock(tmp_path / "r").acquire()
    try:
        result = run_cli("train", "--run-dir", "r", "--steps", "5", cwd=tmp_path)
        assert result.returncode == 2 and "is being trained by process" in result.stderr, result.stderr
        assert "delete" not in result.stderr
    finally:
        lock.release()
    result = run_cli("train", "--resume", "r", "--steps", "20", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "resumed from step 0: the run had stopped before its first checkpoint" in result.stdout + result.stderr
    rows = [json.loads(line) for line in (tmp_path / "r" / "metrics.jsonl").read_text().splitlines()]
    steps = [row["step"] for row in rows if "loss/D" in row]
    assert steps == sorted(set(steps)) and steps[-1] == 20  # the killed session's rows dropped, not doubled
    assert (tmp_path / "r" / "checkpoints" / "step-0000020.pt").is_file()
    assert json.loads((tmp_path / "r" / "run.json").read_text())["seed"] == 3  # its own seed, from config.json
    assert run_cli("generate", "r", "-n", "4", "--seed", "0", cwd=tmp_path).returncode == 0


def test_ctrl_c_stops_gracefully_with_a_checkpoint(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "dcgan", "train", "--run-dir", "r", "--steps", "100000",
                             "--no-progress", *TINY], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    until(lambda: (tmp_path / "r" / "metrics.jsonl").exists(), "a logged step")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err  # interrupted, as the shell says of a command Ctrl-C stopped
    status = json.loads((tmp_path / "r" / "status.json").read_text())
    assert status["status"] == "stopped"
    assert (tmp_path / "r" / "checkpoints" / "last").read_text().strip() == f"step-{status['step']:07d}.pt"


def test_generate_grid_pngs_and_npy(trained_run, tmp_path):
    result = run_cli("generate", str(trained_run), "-n", "10", "--seed", "7", "--grid", "g.png", "--out-dir", "imgs",
                     "--npy", "x.npy", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    array = np.load(tmp_path / "x.npy")
    assert array.shape == (10, 1, 28, 28) and array.dtype == np.uint8
    assert len(list((tmp_path / "imgs").glob("*.png"))) == 10
    assert np.array_equal(np.array(Image.open(tmp_path / "imgs" / "00003.png")), array[3, 0])
    assert Image.open(tmp_path / "g.png").size == (4 * 30 + 2, 3 * 30 + 2)
    # The same seed gives the same images, from the exported weights too.
    again = run_cli("generate", str(trained_run / "generator.safetensors"), "-n", "10", "--seed", "7", "--npy",
                    "y.npy", cwd=tmp_path)
    assert again.returncode == 0 and np.array_equal(np.load(tmp_path / "y.npy"), array)


def test_checkpoint_options_take_a_name_in_the_run(trained_run, tmp_path):
    """--checkpoint step-0000020.pt, the name `ls runs/<name>/checkpoints` shows, from any folder."""
    result = run_cli("generate", str(trained_run), "--checkpoint", "step-0000020.pt", "-n", "4", "--npy", "x.npy",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "step-0000020.pt (step 20)" in result.stdout
    result = run_cli("generate", str(trained_run), "--checkpoint", "step-0000999.pt", cwd=tmp_path)
    assert result.returncode == 2 and "step-0000999.pt does not exist" in result.stderr


def test_generate_errors(tmp_path):
    result = run_cli("generate", str(tmp_path / "missing"), cwd=tmp_path)
    assert result.returncode == 2 and "does not exist" in result.stderr and "Traceback" not in result.stderr
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    result = run_cli("generate", str(bad), cwd=tmp_path)
    assert result.returncode == 2 and "not a readable dcgan checkpoint" in result.stderr


def test_info_lists_versions_devices_and_offline_datasets(tmp_path):
    result = run_cli("info", cwd=tmp_path)
    assert result.returncode == 0
    assert "torch" in result.stdout and "cpu" in result.stdout
    assert "fashion-mnist  /usr/share/datasets/fashion-mnist" in result.stdout
    assert f"mnist          {data_home() / 'MNIST'}" in result.stdout  # fetched by the test command


def test_dry_run_prints_config_and_summary_and_writes_nothing(tmp_path):
    result = run_cli("train", "--dry-run", "--preset", "paper", "--image-size", "64", "--batch-size", "4", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "\nimage_size = 64\n" in result.stdout  # the config, as a file --config reads (tests/test_configfile.py)
    assert "ConvTranspose2d" in result.stderr and "512x4x4" in result.stderr and "3,574,656" in result.stderr
    assert "one step: loss_D" in result.stderr
    assert not (tmp_path / "runs").exists()


def test_cli_reference_matches_the_parser():
    from dcgan.cli import reference_markdown

    committed = (ROOT / "docs" / "cli.md").read_text()
    assert committed == reference_markdown(), "regenerate with: python -m dcgan.cli --reference > docs/cli.md"


def test_fork_from_the_cli_changes_options_and_records_the_parent(trained_run, tmp_path):
    result = run_cli("train", "--fork", str(trained_run), "--lr-d", "0.0004", "--steps", "24", "--log-every", "1",
                     "--run-dir", "child",
                     "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "child" / "run.json").read_text())
    assert record["parent"]["step"] == 20 and record["sessions"][0]["command"].startswith("dcgan train --fork")
    rows = [r for r in read_metrics(tmp_path / "child" / "metrics.jsonl") if "loss/D" in r]
    assert rows[0]["step"] == 21 and rows[0]["lr/D"] == 0.0004
    bad = run_cli("train", "--fork", str(trained_run), "--image-size", "64", cwd=tmp_path)
    assert bad.returncode == 2 and "cannot change" in bad.stderr


def test_a_fork_from_the_cli_with_a_new_lr_trains_both_networks_at_it(trained_run, tmp_path):
    result = run_cli("train", "--fork", str(trained_run), "--lr", "0.001", "--steps", "22", "--log-every", "1",
                     "--run-dir", "child", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    rows = [r for r in read_metrics(tmp_path / "child" / "metrics.jsonl") if "loss/D" in r]
    assert rows[-1]["lr/G"] == 0.001 and rows[-1]["lr/D"] == 0.001


# --- Seeds, outputs and classes of the commands that draw samples (audit) ----------------------------------

def one_line_error(capsys) -> str:
    """The single stderr line of a command refused with exit code 2."""
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("argv, words", [
    (["generate", "--seed", "99999999999999999999"], "--seed must be a seed from 0 to 2**63 - 1"),
    (["generate", "--seed", "-1"], "--seed must be a seed from 0 to 2**63 - 1, got -1"),
    (["eval", "--seed", "-1"], "--seed must be a seed from 0 to 2**63 - 1, got -1"),
    (["eval", "--seed", "99999999999999999999"], "--seed must be a seed from 0 to 2**63 - 1"),
    (["interpolate", "--from", "-1", "--to", "2"], "--from must be a seed from 0 to 2**63 - 1"),
    (["interpolate", "--walk", "3", "--from", str(2**63 - 2)], "(the last point's seed) must be a seed"),
    (["arithmetic", "--a", "1", "--b", "2", "--c", "3", "--seed", "-1"], "--seed must be a seed"),
    (["arithmetic", "--a", "1-99999999999999999999", "--b", "2", "--c", "3"], "--a must be a seed"),
    (["mix", "--rows", "0-99999999999999999999"], "--rows must be a seed from 0 to 2**63 - 1"),
    (["mix", "--rows", "0-5000"], "--rows 0-5000 names 5001 seeds: give at most 1000"),
])
def test_every_command_bounds_its_seeds_alike(trained_run, tmp_path, capsys, argv, words):
    """0 to 2**63 - 1, what torch's generator takes and `dcgan generate` names images by: one line, not numpy's or
    torch's overflow, and a negative seed is refused by generate as by train."""
    from dcgan.cli import main

    before = snapshot(trained_run)
    assert main([argv[0], str(trained_run), *argv[1:]]) == 2
    assert words in one_line_error(capsys)
    assert snapshot(trained_run) == before and not any(tmp_path.iterdir())


def test_arithmetic_takes_seed_ranges_as_mix_and_attribute_do(trained_run, tmp_path, capsys):
    from dcgan.cli import main

    assert main(["arithmetic", str(trained_run), "--a", "1-3", "--b", "4", "--c", "5,6", "--out", "a.png"]) == 0
    assert "A: seeds 1,2,3" in capsys.readouterr().out and Image.open(tmp_path / "a.png").format == "PNG"


@pytest.mark.parametrize("argv, words", [
    (["--grid", "out.xyz"], "--grid out.xyz: .xyz is not an image type this can write; end the name in .png"),
    (["--grid", "folder"], "--grid folder is a folder: give an image file name"),
    (["--out-dir", "file.png"], "--out-dir file.png is a file"),
    (["--out-dir", "full"], "--out-dir full already holds files: choose a new or empty folder"),
    (["--npy", "out.png"], "--npy out.png: the file name must end in .npy"),
    (["--npy", "folder"], "--npy folder is a folder"),
])
def test_generate_refuses_an_output_it_cannot_write_before_generating(trained_run, tmp_path, capsys, argv, words):
    """One line, and the files already there untouched: --out-dir is new or empty, so no earlier image is
    overwritten or left among the new ones."""
    from dcgan.cli import main

    (tmp_path / "folder").mkdir()
    (tmp_path / "file.png").write_bytes(b"mine")
    (tmp_path / "full").mkdir()
    for i in range(5):  # an earlier `generate -n 5 --out-dir full`
        (tmp_path / "full" / f"{i:05d}.png").write_bytes(b"earlier")
    before = snapshot(tmp_path)
    assert main(["generate", str(trained_run), "-n", "3", *argv]) == 2
    assert words in one_line_error(capsys)
    assert snapshot(tmp_path) == before


def test_generate_writes_into_an_empty_folder_and_names_the_files_it_wrote(trained_run, tmp_path, capsys):
    from dcgan.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["generate", str(trained_run), "-n", "3", "--out-dir", "empty", "--npy", "x.npy", "--grid",
                 "g.jpg"]) == 0
    assert sorted(p.name for p in (tmp_path / "empty").iterdir()) == ["00000.png", "00001.png", "00002.png"]
    assert np.load(tmp_path / "x.npy").shape == (3, 1, 28, 28) and Image.open(tmp_path / "g.jpg").format == "JPEG"
    assert capsys.readouterr().out.rstrip().endswith(": x.npy, empty/ (3 PNGs), g.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "g.jpg", "x.npy"]  # no temporary files left


def test_arithmetic_out_that_is_a_folder_is_one_line(trained_run, tmp_path, capsys):
    from dcgan.cli import main

    (tmp_path / "outd").mkdir()
    assert main(["arithmetic", str(trained_run), "--a", "1", "--b", "3", "--c", "4", "--out", "outd"]) == 2
    assert "--out outd is a folder: give a file name" in one_line_error(capsys)
    assert not any((tmp_path / "outd").iterdir())


@pytest.mark.parametrize("argv, words", [
    (["-n", "2"], "-n must be between 4 and 100000"),
    (["-n", "3"], "-n must be between 4 and 100000"),
    (["--max-reference", "2"], "--max-reference must be at least 4"),
    (["--inception-weights", "nothere.pth"], "--inception-weights nothere.pth does not exist"),
])
def test_eval_refuses_too_few_images_and_missing_weights_in_one_line(trained_run, capsys, argv, words):
    """Precision and recall's k=3 neighbours need 4 images a side (they were kthvalue's RuntimeError); a weights
    path that is not there is an error, not a silent fall back to the classifier."""
    from dcgan.cli import main

    before = snapshot(trained_run)
    assert main(["eval", str(trained_run), *argv]) == 2
    assert words in one_line_error(capsys)
    assert snapshot(trained_run) == before


def test_interpolate_of_a_strip_only_does_not_mention_an_animation(trained_run, tmp_path, capsys):
    from dcgan.cli import main

    assert main(["interpolate", str(trained_run), "--from", "1", "--to", "2", "--format", "png", "--out", "p"]) == 0
    out = capsys.readouterr().out
    assert "animation" not in out and "wrote p.png" in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.png"]


@pytest.fixture(scope="module")
def conditional_run(tmp_path_factory, fashion):
    """A two-step conditional Fashion-MNIST run: enough to draw a chosen class."""
    from dcgan.data import ImageData
    from dcgan.training import Trainer

    folder = tmp_path_factory.mktemp("cli-conditional") / "cond"
    data = ImageData(fashion.images[:256], fashion.labels[:256], fashion.class_names, fashion.source)
    Trainer(TrainConfig(dataset="fashion-mnist", steps=2, batch_size=16, g_width=8, d_width=8, latent_dim=16,
                        seed=0, sample_every=1000, tensorboard=False, conditional=True), run_dir=folder,
            data=data).run()
    return folder


def test_a_class_is_chosen_by_name_as_arithmetic_and_attribute_take_it(conditional_run, tmp_path, capsys):
    from dcgan.cli import main

    assert main(["generate", str(conditional_run), "-n", "4", "--seed", "1", "--class", "sneaker", "--npy",
                 "named.npy"]) == 0
    assert "of class 7 (Sneaker)" in capsys.readouterr().out
    assert main(["generate", str(conditional_run), "-n", "4", "--seed", "1", "--class", "7", "--npy", "7.npy"]) == 0
    assert np.array_equal(np.load(tmp_path / "named.npy"), np.load(tmp_path / "7.npy"))
    assert main(["interpolate", str(conditional_run), "--from", "1", "--to", "2", "--class", "Sneaker", "--format",
                 "png", "--out", "p"]) == 0
    assert main(["generate", str(conditional_run), "--class", "hat"]) == 2
    assert "unknown class 'hat': use a number or a name from 0=T-shirt/top" in one_line_error(capsys)
    assert main(["mix", str(conditional_run), "--rows", "1", "--cols", "2", "--block", "0", "--class", "sneaker",
                 "--out", "m"]) == 0  # style mixing and attribute slides take names too
    assert main(["mix", str(conditional_run), "--rows", "1", "--cols", "2", "--class", "hat"]) == 2
    assert "unknown class 'hat'" in one_line_error(capsys)
    assert main(["attribute", str(conditional_run), "--toward", "bag", "--class", "hat"]) == 2
    assert "unknown class 'hat'" in one_line_error(capsys)
    assert main(["attribute", str(conditional_run), "--toward", "bag", "--fit-seed", "-1"]) == 2
    assert "--fit-seed must be a seed from 0 to 2**63 - 1, got -1" in one_line_error(capsys)
    assert main(["attribute", str(conditional_run), "--toward", "bag", "--out", "strip.xyz"]) == 2
    assert "--out strip.xyz: .xyz is not an image type this can write" in one_line_error(capsys)


def test_the_figures_of_two_classes_are_two_files_named_by_class(conditional_run, capsys):
    """The default names of a conditional run's figures end in the class, so that drawing the same seeds as
    another class (a class showing sneakers, then bags) does not overwrite the first figure."""
    from dcgan.cli import main

    run = str(conditional_run)
    for cls in ("sneaker", "8"):
        assert main(["interpolate", run, "--from", "1", "--to", "2", "--steps", "3", "--format", "png",
                     "--class", cls]) == 0
        assert main(["arithmetic", run, "--a", "1", "--b", "2", "--c", "3", "--variations", "0", "--class", cls]) == 0
        assert main(["mix", run, "--rows", "1", "--cols", "2", "--block", "0", "--class", cls]) == 0
        assert main(["attribute", run, "--toward", "bag", "--steps", "2", "--samples", "100", "--class", cls]) == 0
        if cls == "8":  # and each says the class it drew
            out = capsys.readouterr().out
            assert "3 images of class 8 (Bag) along slerp paths through seeds 1, 2" in out
            assert "with 0 variations, all drawn as class 8 (Bag)" in out
            assert "columns = seeds 2 (B), all of class 8 (Bag)" in out
    assert sorted(p.name for p in (conditional_run / "latent").iterdir()) == [
        "arithmetic-1-2-3-class7-Sneaker.png", "arithmetic-1-2-3-class8-Bag.png",
        "attribute-Bag-0-class7-Sneaker.png", "attribute-Bag-0-class8-Bag.png",
        "interpolation-1-2-slerp-class7-Sneaker.png", "interpolation-1-2-slerp-class8-Bag.png",
        "mix-1-2-class7-Sneaker-block0.png", "mix-1-2-class8-Bag-block0.png"]
    capsys.readouterr()
    assert main(["mix", run, "--rows", "1", "--cols", "2", "--block", "0"]) == 2  # no class: one line, no header
    out, err = capsys.readouterr()
    assert out == "" and "is a conditional generator (10 classes): give a class" in err


def test_attribute_says_which_class_a_conditional_g_draws(conditional_run, tmp_path, capsys):
    from dcgan.cli import main

    assert main(["attribute", str(conditional_run), "--toward", "bag", "--steps", "2", "--samples", "100",
                 "--class", "sneaker", "--out", "slide.png"]) == 0
    assert ", G drawing class 7 (Sneaker), fitted on 100 samples" in capsys.readouterr().out


def test_interpolate_moves_one_seed_from_class_to_class(conditional_run, tmp_path, capsys):
    from dcgan.cli import main

    assert main(["interpolate", str(conditional_run), "--from", "3", "--class", "sneaker", "--to-class", "bag",
                 "--steps", "4", "--format", "png,gif", "--out", "morph"]) == 0
    assert "4 images of seed 3 from class 7 (Sneaker) to class 8 (Bag)" in capsys.readouterr().out
    assert (tmp_path / "morph.gif").is_file() and (tmp_path / "morph.png").is_file()
    for wrong in (["--to", "4"], ["--walk", "3"]):
        assert main(["interpolate", str(conditional_run), "--from", "3", "--class", "7", "--to-class", "8",
                     *wrong]) == 2
        assert "--to-class moves from --class to another class at one seed" in one_line_error(capsys)


def test_arithmetic_by_class_on_a_dataset_without_a_classifier_says_to_give_seeds(tmp_path, capsys):
    """The evaluation's advice (--features inception) is no option of arithmetic's."""
    import torch

    from dcgan.cli import main
    from dcgan.data import ImageData
    from dcgan.training import Trainer

    config = TrainConfig(dataset=f"folder:{tmp_path / 'photos'}", image_size=28, steps=1, batch_size=16, g_width=8,
                         d_width=8, latent_dim=16, seed=0, sample_every=1000, tensorboard=False)
    images = torch.randint(0, 256, (32, 3, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    Trainer(config, run_dir=tmp_path / "f", data=ImageData(images, None)).run()
    capsys.readouterr()
    assert main(["arithmetic", str(tmp_path / "f"), "--a", "class:0", "--b", "1", "--c", "2"]) == 2
    err = one_line_error(capsys)
    assert "exists for mnist and fashion-mnist only" in err and "give seeds instead" in err
    assert "--features" not in err
