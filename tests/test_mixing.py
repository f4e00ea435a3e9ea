"""Style mixing for a DCGAN (issue 20): G's early blocks from A, the per-channel style of its later blocks from B,
as the familiar grid, from the Python API and `dcgan mix`, on a real Fashion-MNIST run."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from PIL import Image

from conftest import ROOT

from dcgan.cli import main
from dcgan.errors import ConfigError
from dcgan.images import to_uint8
from dcgan.mixing import block_shapes, mixed_images, restyle, style_mix
from dcgan.models import Generator
from dcgan.sampling import load_generator


@pytest.fixture(scope="module")
def g(fashion_run):
    return load_generator(fashion_run)


def test_blocks_are_gs_maps_from_the_smallest_to_the_output():
    assert block_shapes(Generator(28, 1, 100, 16)) == [(32, 7, 7), (16, 14, 14), (1, 28, 28)]
    assert block_shapes(Generator(64, 3, 100, 16)) == [(128, 4, 4), (64, 8, 8), (32, 16, 16), (16, 32, 32),
                                                       (3, 64, 64)]


def test_restyle_gives_the_content_the_styles_channel_statistics():
    gen = torch.Generator().manual_seed(0)
    content, style = torch.randn(2, 3, 8, 8, generator=gen), 3 * torch.randn(2, 3, 8, 8, generator=gen) + 1
    out = restyle(content, style)
    assert torch.allclose(out.mean((2, 3)), style.mean((2, 3)), atol=1e-5)
    assert torch.allclose(out.std((2, 3), unbiased=False), style.std((2, 3), unbiased=False), atol=1e-3)
    # The layout is the content's: correlation with it is 1 per channel.
    centred = lambda t: (t - t.mean((2, 3), keepdim=True)).flatten(2)  # noqa: E731
    cos = torch.nn.functional.cosine_similarity(centred(out), centred(content), dim=2)
    assert torch.allclose(cos, torch.ones_like(cos), atol=1e-4)


def test_mixing_a_noise_vector_with_itself_changes_nothing(g):
    z = g.seed_latents([0, 1, 2])
    plain = g.generate(z)
    for block in range(3):
        mixed = to_uint8(mixed_images(g.model, z, z, block))
        assert int((mixed.int() - plain.int()).abs().max()) <= 1


def test_the_grid_has_b_along_the_top_a_down_the_left_and_their_mixes_inside(g):
    grid = g.mix([0, 1, 2], [3, 4, 5, 6], block=1)
    assert grid.tensor.shape == (4 * 5, 1, 28, 28) and grid.nrow == 5
    tiles = grid.tensor.view(4, 5, 1, 28, 28)
    assert tiles[0, 0].max() == 0  # the corner is left black
    assert torch.equal(tiles[0, 1:], g.generate(g.seed_latents([3, 4, 5, 6])))
    assert torch.equal(tiles[1:, 0], g.generate(g.seed_latents([0, 1, 2])))
    assert torch.equal(tiles[1:, 1:], grid.mixes)
    assert grid.shape == (16, 14, 14) and grid.row_seeds == [0, 1, 2]


def test_a_mix_keeps_as_shape_and_takes_bs_brightness(g):
    """What docs/latent.md reports of a trained run, at every block: a mix is nearer A than B pixel by pixel (A's
    early maps fix the layout), and its brightness follows B's (B's channel statistics set it)."""
    rows, cols = list(range(8)), list(range(8, 16))
    a, b = g.generate(g.seed_latents(rows)).float(), g.generate(g.seed_latents(cols)).float()
    for block in range(3):
        mixes = style_mix(g, rows, cols, block).mixes.float()  # (8, 8, 1, 28, 28)
        assert (mixes - a[:, None]).abs().mean() < (mixes - b[None]).abs().mean()
        brightness = mixes.mean((2, 3, 4)).flatten()
        of_b = b.mean((1, 2, 3))[None].expand(8, 8).flatten()
        of_a = a.mean((1, 2, 3))[:, None].expand(8, 8).flatten()
        with_b = torch.corrcoef(torch.stack([brightness, of_b]))[0, 1]
        with_a = torch.corrcoef(torch.stack([brightness, of_a]))[0, 1]
        assert with_b > 0.8 and with_b > with_a, (block, with_b, with_a)


def test_bad_mixing_input_teaches(g):
    with pytest.raises(ConfigError, match=r"block must be from 0 to 2 .*0 = 32x7x7"):
        g.mix([0], [1], block=3)
    with pytest.raises(ConfigError, match="1 to 16 seeds for the rows"):
        g.mix(list(range(17)), [1], block=0)


def test_dcgan_mix_writes_one_grid_per_block(fashion_run, tmp_path, capsys):
    assert main(["mix", str(fashion_run), "--rows", "0-2", "--cols", "3,4", "--out", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    for block in range(3):
        assert Image.open(tmp_path / f"m-block{block}.png").size == (3 * 84 + 4 * 2, 4 * 84 + 5 * 2)
    assert "block 0 (32 maps of 7x7)" in out and "block 2 (the output, before Tanh)" in out
    assert main(["mix", str(fashion_run), "--block", "1", "--rows", "0", "--cols", "1"]) == 0
    assert (fashion_run / "latent" / "mix-0-1-block1.png").is_file()
    assert main(["mix", str(fashion_run), "--block", "9"]) == 2
    assert main(["mix", str(fashion_run), "--rows", "a,b"]) == 2
    assert "--rows takes seeds" in capsys.readouterr().err


def test_the_mixing_statistics_script_prints_a_row_per_block(fashion_run):
    done = subprocess.run([sys.executable, str(ROOT / "scripts" / "mixing_stats.py"), str(fashion_run), "--pairs",
                           "6"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    rows = [line for line in done.stdout.splitlines() if line.startswith("| block")]
    assert [row.split(" (")[0] for row in rows] == ["| block 0", "| block 1", "| block 2"]
