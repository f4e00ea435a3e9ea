"""CelebA's online path: torchvision downloads it from Google Drive with gdown, which the `celeba` extra installs."""

import subprocess
import sys

from blocked_imports import env_without
from dcgan.datasets import data_home


def test_celeba_without_gdown_names_the_extra_in_one_line_and_touches_nothing(tmp_path):
    result = subprocess.run([sys.executable, "-m", "dcgan", "train", "--dataset", "celeba", "--data-dir", "data",
                             "--steps", "1"], cwd=tmp_path, env=env_without(tmp_path / "blocked", "gdown"),
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("dcgan train: error: CelebA is not in data/celeba or ") and "pip install 'dcgan[celeba]'" in line
    assert f"{data_home() / 'celeba'}, and downloading" in line  # the data home is searched too, and named
    assert not (tmp_path / "data").exists() and not (tmp_path / "runs").exists()
