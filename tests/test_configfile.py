"""Config files: `dcgan train --config my.toml|my.json`, precedence preset < file < flags, one-line errors, and
`--dry-run` printing a file that --config reads back to the same config."""

import json
import tomllib

import pytest

from conftest import run_cli
from dcgan.cli import main
from dcgan.config import TrainConfig
from dcgan.configfile import compose, format_config, read_config_file
from dcgan.errors import ConfigError

TINY = ["--batch-size", "32", "--g-width", "16", "--d-width", "16", "--seed", "3"]


def test_a_toml_file_sets_options_over_its_preset_and_flags_win(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text('preset = "paper"\nlr = 0.001\ng_width = 24\ndiffaugment = "translation"\n')
    config = compose(None, path, {"g_width": 16})
    assert config.batch_size == 128 and config.d_width == 64 and config.beta1 == 0.5  # the preset
    assert config.lr == 0.001 and config.diffaugment == "translation"  # the file over the preset
    assert config.g_width == 16  # the flag over the file


def test_the_preset_flag_names_the_preset_instead_of_the_files(tmp_path):
    path = tmp_path / "my.toml"
    path.write_text('preset = "cpu-fast"\nlr = 0.001\n')
    config = compose("cifar10", path, {})
    assert config.dataset == "cifar10" and config.batch_size == TrainConfig().batch_size and config.lr == 0.001


def test_a_length_typed_beside_a_file_replaces_the_files_and_the_presets(tmp_path, capsys):
    """`epochs = 1` in the file and --steps typed: the run is 20 steps long (the typed length wins over the file's,
    which wins over its preset's), not 'give --epochs or --steps, not both'."""
    (tmp_path / "f.toml").write_text('preset = "cpu-fast"\nepochs = 1\n')
    assert (compose(None, tmp_path / "f.toml").epochs, compose(None, tmp_path / "f.toml").steps) == (1, None)
    (tmp_path / "s.toml").write_text('preset = "cpu-fast"\nsteps = 7\n')
    assert (compose(None, tmp_path / "s.toml").epochs, compose(None, tmp_path / "s.toml").steps) == (None, 7)
    assert main(["train", "--config", "f.toml", "--steps", "20", "--dry-run", *TINY]) == 0
    values = tomllib.loads(capsys.readouterr().out)
    assert values["steps"] == 20 and "epochs" not in values and values["minutes"] == 5.0
    assert main(["train", "--preset", "cpu-fast", "--steps", "20", "--dry-run", *TINY]) == 0
    values = tomllib.loads(capsys.readouterr().out)
    assert values["steps"] == 20 and "epochs" not in values and values["minutes"] == 5.0


def test_a_json_file_reads_like_a_toml_one(tmp_path):
    (tmp_path / "a.toml").write_text('batch_size = 16\nlr = 1\nseed = 4\nwandb = true\n')
    (tmp_path / "a.json").write_text('{"batch_size": 16, "lr": 1, "seed": 4, "wandb": true, "epochs": null}')
    assert read_config_file(tmp_path / "a.toml") == (None, {"batch_size": 16, "lr": 1.0, "seed": 4, "wandb": True})
    assert compose(None, tmp_path / "a.toml") == compose(None, tmp_path / "a.json")
    assert isinstance(compose(None, tmp_path / "a.json").lr, float)


@pytest.mark.parametrize("text,words", [
    ("batch_szie = 32\n", "my.toml: unknown option 'batch_szie'; did you mean 'batch_size'?"),
    ("presset = 'cpu-fast'\n", "unknown option 'presset'; did you mean 'preset'?"),
    ("lr = 'fast'\n", "my.toml: lr must be float, got 'fast'"),
    ("batch_size = 0\n", "my.toml: batch_size must be >= 1"),
    ("lr = \n", "my.toml is not valid TOML: Invalid value (at line 1, column 6)"),
    ("preset = 'fastest'\n", "unknown preset 'fastest'"),
    ("[optim]\nlr = 0.1\n", "unknown option 'optim'"),
])
def test_a_bad_file_is_one_line_that_names_the_key(tmp_path, text, words):
    (tmp_path / "my.toml").write_text(text)
    with pytest.raises(ConfigError) as e:
        read_config_file(tmp_path / "my.toml")
    assert words in str(e.value) and "\n" not in str(e.value)


def test_the_cli_reports_a_bad_file_in_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "my.toml").write_text("batch_szie = 32\n")
    result = run_cli("train", "--config", "my.toml", "--steps", "2", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "dcgan train: error: my.toml: unknown option 'batch_szie'; did you mean 'batch_size'?"]
    assert not (tmp_path / "runs").exists()
    result = run_cli("train", "--config", "my.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "ends in .toml or .json" in result.stderr


def test_every_kind_of_value_survives_a_round_trip(tmp_path):
    odd = 'C:\\data "quoted" tab\there\nnew line, ünïcode, \x7f, \x01'
    config = TrainConfig(data_dir=odd, lr=1e-05, beta2=0.9, minutes=5, spectral_norm=True, seed=0, epochs=3,
                         diffaugment="translation,cutout", d_norm="layer", loss="hinge")
    for fmt in ("toml", "json"):
        path = tmp_path / f"c.{fmt}"
        path.write_text(format_config(config, fmt), encoding="utf-8")
        again = compose(None, path)
        assert again == config and again.data_dir == odd
        assert format_config(again, fmt) == format_config(config, fmt)


def test_toml_leaves_unset_options_out_and_shows_what_the_run_derives():
    config = TrainConfig(epochs=2)
    text = format_config(config, "toml", resolved=config.resolved())
    values = tomllib.loads(text)
    assert "image_size" not in values and "seed" not in values and "lr_g" not in values
    assert "# image_size = 28  (derived while unset)" in text and "# seed = " in text
    assert 'd_norm = "auto"  # resolves to "batch"' in text


def test_dry_run_prints_a_config_file_that_loads_back_the_same(tmp_path):
    first = run_cli("train", "--preset", "cpu-fast", "--lr", "0.001", "--dry-run", *TINY, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    (tmp_path / "saved.toml").write_text(first.stdout)
    values = tomllib.loads(first.stdout)
    assert values["lr"] == 0.001 and values["g_width"] == 16 and values["minutes"] == 5.0
    assert "ConvTranspose2d" in first.stderr and "one step: loss_D" in first.stderr

    again = run_cli("train", "--config", "saved.toml", "--dry-run", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout
    assert not (tmp_path / "runs").exists()


def test_dry_run_answers_in_json_when_the_config_was_json(tmp_path):
    (tmp_path / "my.json").write_text(json.dumps({"preset": "fashion-mnist", "batch_size": 16, "lr": 6e-4, "seed": 3}))
    first = run_cli("train", "--config", "my.json", "--dry-run", "--g-width", "16", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    values = json.loads(first.stdout)
    assert values["batch_size"] == 16 and values["g_width"] == 16 and values["lr"] == 6e-4
    assert "image_size" not in values and "lr_g" not in values  # unset: derived from the dataset and from lr
    (tmp_path / "saved.json").write_text(first.stdout)
    again = run_cli("train", "--config", "saved.json", "--dry-run", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == first.stdout


def test_config_files_start_new_runs_only(tmp_path):
    (tmp_path / "my.toml").write_text("lr = 0.001\n")
    result = run_cli("train", "--config", "my.toml", "--resume", "runs/x", cwd=tmp_path)
    assert result.returncode == 2 and "--config starts a new run" in result.stderr
