"""Generation from a trained G: images, grids, PNG/GIF files, and the notebook-friendly handle."""

from __future__ import annotations

import io
import math
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision.utils import make_grid

from dcgan.checkpoint import GENERATOR_FILE, load_checkpoint, load_generator_file, resolve_checkpoint
from dcgan.config import TrainConfig
from dcgan.errors import CheckpointError, ConfigError
from dcgan.models import Generator, build_generator

MAX_GIF_FRAMES = 120


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """G's output in [-1, 1] -> uint8 pixels in [0, 255], on the CPU."""
    return images.detach().float().add(1).mul(127.5).round().clamp(0, 255).to(torch.uint8).cpu()


def grid_nrow(count: int) -> int:
    return max(1, int(math.ceil(math.sqrt(count))))


def grid_array(images: torch.Tensor, nrow: int | None = None, padding: int = 2) -> np.ndarray:
    """(N, C, H, W) uint8 -> one (H', W', 3) or (H', W') uint8 array laid out by torchvision's make_grid."""
    grid = make_grid(images, nrow=nrow or grid_nrow(images.shape[0]), padding=padding, pad_value=0)
    if images.shape[1] == 1:
        return grid[0].numpy()
    return grid.permute(1, 2, 0).numpy()


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


class Images:
    """A batch of generated images (N, C, H, W) uint8 that shows itself as a grid in Jupyter."""

    def __init__(self, tensor: torch.Tensor, nrow: int | None = None):
        self.tensor = tensor
        self.nrow = nrow

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def grid(self) -> np.ndarray:
        return grid_array(self.tensor, self.nrow)

    def _repr_png_(self) -> bytes:
        return png_bytes(self.grid())

    def save(self, path: str | os.PathLike) -> Path:
        """Write the grid as an image file (format from the suffix)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(self.grid()).save(path)
        return path

    def numpy(self) -> np.ndarray:
        return self.tensor.numpy()


def write_gif(frames: list[Path], path: str | os.PathLike, duration_ms: int = 200) -> None:
    """Animate sample grids into a looping GIF (at most MAX_GIF_FRAMES, evenly spread, last kept)."""
    if not frames:
        return
    if len(frames) > MAX_GIF_FRAMES:
        picks = np.linspace(0, len(frames) - 1, MAX_GIF_FRAMES).round().astype(int)
        frames = [frames[i] for i in sorted(set(picks.tolist()))]
    images = [Image.open(f).convert("RGB") for f in frames]
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    os.replace(tmp, path)


class LoadedGenerator:
    """A trained G ready to sample: `g = load_generator("runs/x"); g.sample(16, seed=0)`."""

    def __init__(self, model: Generator, config: TrainConfig, step: int, source: str):
        self.model = model.eval()
        self.config = config
        self.step = step
        self.source = source

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: str | torch.device) -> "LoadedGenerator":
        self.model.to(device)
        return self

    def noise(self, count: int, seed: int | None = None) -> torch.Tensor:
        """z ~ N(0, I), (count, latent_dim), drawn on the CPU so a seed gives the same z on every device."""
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        return torch.randn(count, self.config.latent_dim, generator=gen)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) as uint8 images (N, C, H, W), in batches of 256 to bound memory."""
        out = [to_uint8(self.model(part.to(self.device))) for part in z.split(256)]
        return torch.cat(out)

    def sample(self, count: int = 64, seed: int | None = None) -> Images:
        if count < 1:
            raise ConfigError(f"count must be at least 1, got {count}")
        return Images(self.generate(self.noise(count, seed)))


def load_generator(target: str | os.PathLike, device: str | torch.device = "cpu") -> LoadedGenerator:
    """Load G from a run folder, a checkpoint file or an exported generator.safetensors."""
    path = resolve_checkpoint(target)
    if path.suffix == ".safetensors":
        state, config_dict, step = load_generator_file(path)
    else:
        ckpt = load_checkpoint(path)
        state, config_dict, step = ckpt["G"], ckpt["config"], ckpt["step"]
    config = TrainConfig.from_dict(config_dict)
    model = build_generator(config)
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise CheckpointError(f"{path}: the weights do not fit the generator its config describes ({e})") from e
    return LoadedGenerator(model, config, step, str(path)).to(device)


__all__ = ["Images", "LoadedGenerator", "load_generator", "to_uint8", "grid_array", "png_bytes", "write_gif",
           "GENERATOR_FILE"]
