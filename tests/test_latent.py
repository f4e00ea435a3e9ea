"""Latent space: slerp/lerp maths, interpolations and walks as images and animations, vector arithmetic, and the
`dcgan interpolate` / `dcgan arithmetic` commands (Radford et al. 2015, sections 6.1 and 6.3)."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
import torch
from PIL import Image

from dcgan.cli import main
from dcgan.config import TrainConfig
from dcgan.data import ImageData
from dcgan.errors import ConfigError
from dcgan.latent import arithmetic_z, lerp, loop, path, predicted_class_seeds, seeds_of_class, slerp
from dcgan.sampling import load_generator
from dcgan.training import Trainer


def tiny_config(**overrides) -> TrainConfig:
    values = dict(dataset="fashion-mnist", steps=3, batch_size=16, g_width=8, d_width=8, latent_dim=16, seed=0,
                  sample_every=1000, tensorboard=False)
    return TrainConfig(**{**values, **overrides})


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, fashion):
    """A real (very short) unconditional run on Fashion-MNIST images."""
    folder = tmp_path_factory.mktemp("latent") / "runs" / "tiny"
    data = ImageData(fashion.images[:256], fashion.labels[:256], fashion.class_names, fashion.source)
    Trainer(tiny_config(), run_dir=folder, data=data).run()
    return folder


@pytest.fixture(scope="module")
def g(run_dir):
    return load_generator(run_dir)


def same_pixels(a: torch.Tensor, b: torch.Tensor) -> bool:
    """uint8 images equal up to one grey level: G(z) in a batch of 1 and of N can differ in the last float bit,
    which rounding to uint8 turns at most into one level."""
    return a.shape == b.shape and int((a.int() - b.int()).abs().max()) <= 1


# --- The maths ----------------------------------------------------------------------------------------------

def test_slerp_keeps_the_norm_between_vectors_of_equal_norm_while_lerp_dips():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(100, generator=gen), torch.randn(100, generator=gen)
    b = b * a.norm() / b.norm()  # equal norms, nearly orthogonal (as two draws of N(0, I) in 100 d are)
    t = torch.linspace(0, 1, 21)
    slerp_norms, lerp_norms = slerp(a, b, t).norm(dim=1), lerp(a, b, t).norm(dim=1)
    assert torch.allclose(slerp_norms, a.norm().expand(21), rtol=1e-5)
    assert lerp_norms[10] < 0.8 * a.norm()  # the straight line's middle is near sqrt(d / 2), off the shell
    assert lerp_norms[10] == lerp_norms.min()


def test_slerp_interpolates_the_norm_between_vectors_of_different_norms():
    a, b = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 5.0])
    norms = slerp(a, b, torch.linspace(0, 1, 5)).norm(dim=1)
    assert norms[0] == pytest.approx(3) and norms[-1] == pytest.approx(5)
    assert all(3 - 1e-4 <= n <= 5 + 1e-4 for n in norms)


def test_slerp_of_parallel_vectors_falls_back_to_lerp():
    a = torch.tensor([1.0, 2.0])
    assert torch.allclose(slerp(a, 2 * a, torch.tensor([0.5])), torch.tensor([[1.5, 3.0]]))


def test_path_has_the_two_points_as_its_exact_ends():
    a, b = torch.randn(16), torch.randn(16)
    z = path(a, b, 7)
    assert z.shape == (7, 16) and torch.equal(z[0], a) and torch.equal(z[-1], b)


def test_loop_visits_every_point_once_and_closes():
    points = torch.randn(4, 8)
    z = loop(points, steps=5)
    assert z.shape == (4 * 4, 8)
    for i in range(4):
        assert torch.equal(z[4 * i], points[i])


def test_arithmetic_z_is_mean_a_minus_mean_b_plus_mean_c():
    a, b, c = torch.randn(3, 8), torch.randn(3, 8), torch.randn(2, 8)
    assert torch.allclose(arithmetic_z(a, b, c), a.mean(0) - b.mean(0) + c.mean(0))


@pytest.mark.parametrize("bad", [dict(mode="cubic"), dict(steps=1), dict(steps=2.5)])
def test_path_rejects_bad_modes_and_steps(bad):
    with pytest.raises(ConfigError):
        path(torch.zeros(4), torch.ones(4), **{"steps": 5, **bad})


# --- Interpolations from a trained G ------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["slerp", "lerp"])
def test_interpolation_ends_reproduce_the_images_of_their_seeds(g, mode):
    strip = g.interpolate(3, 11, steps=6, mode=mode)
    assert len(strip) == 6
    assert same_pixels(strip.tensor[0], g.sample(1, seed=3).tensor[0])
    assert same_pixels(strip.tensor[-1], g.sample(1, seed=11).tensor[0])


def test_an_interpolation_shows_as_a_strip_png_in_jupyter(g):
    strip = g.interpolate(0, 1, steps=5)
    image = Image.open(io.BytesIO(strip._repr_png_()))
    assert image.format == "PNG" and image.width > 4 * image.height  # one row of five images


def test_gif_of_a_path_plays_there_and_back(g, tmp_path):
    strip = g.interpolate(0, 1, steps=6)
    gif = Image.open(strip.save(tmp_path / "path.gif"))
    assert gif.format == "GIF" and gif.n_frames == 2 * 6 - 2  # A..B and back, neither end twice
    assert gif.info["loop"] == 0


def test_walk_is_a_closed_loop_through_its_seeds(g, tmp_path):
    walk = g.walk(4, start=10, steps=5)
    assert walk.seeds == [10, 11, 12, 13] and len(walk) == 4 * (5 - 1)
    assert same_pixels(walk.tensor[0], g.sample(1, seed=10).tensor[0])
    assert same_pixels(walk.tensor[4], g.sample(1, seed=11).tensor[0])
    assert Image.open(walk.save(tmp_path / "walk.gif")).n_frames == 16


def test_mp4_is_written_with_ffmpeg(g, tmp_path):
    mp4 = g.interpolate(0, 1, steps=5).save(tmp_path / "path.mp4", fps=8)
    probe = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                            "stream=codec_name,nb_read_frames", "-of", "json", str(mp4)],
                           capture_output=True, text=True, check=True)
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream["codec_name"] == "h264" and int(stream["nb_read_frames"]) == 2 * 5 - 2


# --- Vector arithmetic --------------------------------------------------------------------------------------

def test_arithmetic_result_is_g_of_mean_a_minus_mean_b_plus_mean_c(g):
    result = g.arithmetic([1, 2, 3], [4, 5, 6], [7, 8, 9], variations=0)
    z = g.seed_latents([1, 2, 3]).mean(0) - g.seed_latents([4, 5, 6]).mean(0) + g.seed_latents([7, 8, 9]).mean(0)
    assert torch.equal(result.z, z)
    assert same_pixels(result.result, g.generate(z[None])[0])
    assert same_pixels(result.means[1], g.generate(g.seed_latents([4, 5, 6]).mean(0, keepdim=True))[0])
    assert [len(group) for group in result.groups] == [3, 3, 3]


def test_arithmetic_variations_add_bounded_noise_around_the_result(g):
    result = g.arithmetic([1], [2], [3], variations=4, noise_scale=0.25, seed=5)
    assert result.variations.shape[0] == 4
    image = Image.open(io.BytesIO(result._repr_png_()))
    assert image.format == "PNG"


def test_arithmetic_rejects_an_empty_group(g):
    with pytest.raises(ConfigError, match="group B is empty"):
        g.arithmetic([1], [], [3])


def test_groups_by_predicted_class_take_the_first_seeds_the_classifier_assigns(g):
    def predict(images):  # a stand-in classifier: class = mean brightness above the batch median
        brightness = images.float().mean(dim=(1, 2, 3))
        return (brightness > brightness.median()).long()

    seeds = seeds_of_class(g, predict, 1, count=3)
    assert len(seeds) == 3 and seeds == sorted(seeds)


def test_groups_by_predicted_class_use_the_shipped_classifier_when_installed(g):
    from dcgan.metrics.features import find_classifier

    assert find_classifier("fashion-mnist") is not None, "the package ships a Fashion-MNIST classifier"
    from dcgan.latent import class_predictor

    predict, names = class_predictor("fashion-mnist")
    first = names[int(predict(g.sample(1, seed=0).tensor)[0])]  # what seed 0 looks like to the classifier
    assert predicted_class_seeds(g, first, count=1, start=0) == [0]
    assert predicted_class_seeds(g, first.upper(), count=1, start=0) == [0]  # names are case-insensitive


# --- The commands -------------------------------------------------------------------------------------------

def test_interpolate_writes_strip_gif_and_mp4_into_the_run(run_dir, capsys):
    assert main(["interpolate", str(run_dir), "--from", "1", "--to", "2", "--steps", "4"]) == 0
    out = capsys.readouterr().out
    folder = run_dir / "latent"
    assert (folder / "interpolation-1-2-slerp.png").is_file()
    assert Image.open(folder / "interpolation-1-2-slerp.gif").n_frames == 6
    assert (folder / "interpolation-1-2-slerp.mp4").stat().st_size > 0  # ffmpeg: installed by the test command
    assert str(folder / "interpolation-1-2-slerp.gif") in out


def test_interpolate_walk_writes_only_the_formats_asked_for(run_dir, tmp_path):
    assert main(["interpolate", str(run_dir), "--walk", "3", "--steps", "4", "--mode", "lerp", "--format", "gif",
                 "--out", str(tmp_path / "walk")]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.gif"]
    assert Image.open(tmp_path / "walk.gif").n_frames == 3 * 3


@pytest.mark.parametrize("argv, message", [
    (["--from", "1", "--to", "2", "--mode", "cubic"], "unknown interpolation mode"),
    (["--from", "1", "--to", "2", "--steps", "1"], "steps must be an integer from 2"),
    (["--from", "1"], "give --from SEED and --to SEED"),
    (["--walk", "1"], "at least 2 points"),
    (["--from", "1", "--to", "2", "--class", "3"], "unconditional"),
    (["--from", "1", "--to", "2", "--format", "avi"], "--format"),
])
def test_interpolate_rejects_bad_input_with_exit_code_2(run_dir, capsys, argv, message):
    assert main(["interpolate", str(run_dir), *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_interpolate_on_an_unknown_run_says_so(capsys):
    assert main(["interpolate", "runs/nope", "--from", "1", "--to", "2"]) == 2
    assert "runs/nope does not exist" in capsys.readouterr().err


def test_arithmetic_writes_the_figure_into_the_run(run_dir, capsys):
    assert main(["arithmetic", str(run_dir), "--a", "1,2,3", "--b", "4,5,6", "--c", "7,8,9"]) == 0
    figure = run_dir / "latent" / "arithmetic-1.2.3-4.5.6-7.8.9.png"
    assert Image.open(figure).format == "PNG"
    assert str(figure) in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["--a", "1,x", "--b", "2", "--c", "3"], "comma list of seeds"),
    (["--a", "1", "--b", "2", "--c", "3", "--variations", "-1"], "variations"),
    (["--a", "class:", "--b", "2", "--c", "3"], "class number or name"),
])
def test_arithmetic_rejects_bad_groups_with_exit_code_2(run_dir, capsys, argv, message):
    assert main(["arithmetic", str(run_dir), *argv]) == 2
    assert message in capsys.readouterr().err


def test_classes_are_named_as_people_call_them():
    """torchvision names MNIST's digits "7 - seven": "seven", "Seven", "7 - seven" and 7 all mean it, and the error
    lists the names that work."""
    from dcgan.latent import class_id

    mnist = [f"{i} - {w}" for i, w in enumerate(["zero", "one", "two", "three", "four", "five", "six", "seven",
                                                  "eight", "nine"])]
    assert {class_id(s, mnist) for s in ("seven", "Seven ", "7 - seven", "7", 7)} == {7}
    assert class_id("Ankle boot", ["T-shirt/top", "Trouser", "Ankle boot"]) == 2
    with pytest.raises(ConfigError, match=r"unknown class 'eleven': use a number or a name from 0=zero, .*7=seven"):
        class_id("eleven", mnist)
    with pytest.raises(ConfigError, match="unknown class 10"):
        class_id(10, mnist)


def test_a_class_name_may_be_typed_as_a_shell_user_types_it():
    """Fashion-MNIST's "T-shirt/top" and "Ankle boot" without quotes or the exact spelling: t-shirt, top,
    ankle-boot, ankle_boot; plurals (sneakers); a signed number is no class name."""
    from dcgan.datasets import DATASETS
    from dcgan.latent import class_id

    fashion = DATASETS["fashion-mnist"].class_names
    typed = {"t-shirt": 0, "TShirt": 0, "top": 0, "trousers": 1, "Dress": 3, "shirt": 6, "sneakers": 7,
             "ankle-boot": 9, "ankle_boot": 9, "Ankle Boots": 9}
    assert {spec: class_id(spec, fashion) for spec in typed} == typed
    for wrong in ("hat", "-1", "+3", "", "boot"):
        with pytest.raises(ConfigError, match="use a number or a name from 0=T-shirt/top"):
            class_id(wrong, fashion)
