"""Images as files and figures: uint8 pixels from G's output, grids, PNG, GIF and MP4 bytes, and `Images`, a batch
that shows itself as a grid in Jupyter. Generation (dcgan.sampling), latent-space figures (dcgan.latent), the run
files and the trackers all build on this module; it knows nothing of models or runs.
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torchvision.utils import make_grid

from dcgan.checkpoint import atomic_write_bytes
from dcgan.errors import ConfigError

MAX_GIF_FRAMES = 120
# A progress GIF's frames x pixels: these grids cost about a byte a pixel as GIF frames (a 2000-step Fashion-MNIST
# run's 242x242 grids: 120 frames made 6.3 MB, 40 made 2.1 MB), so this keeps progress.gif near 2 MB.
GIF_PIXEL_BUDGET = 2_000_000
ANIMATION_SIDE = 128  # animations upscale small images (28x28) to at least this many pixels a side
FIGURE_SIDE = 64  # strips and figures of many images, to at least this many
DISPLAY_SIDE = 320  # Jupyter shows smaller sample grids enlarged to at least this many pixels
GIF_SIDE = 240  # the progress GIF enlarges smaller grids (16 samples of 28x28: 122 pixels) to at least this many
CAPTION = 16  # pixels beneath each progress GIF frame for its step
LAST_FRAME_MS = 2000  # the progress GIF holds its last grid (the newest) before it loops


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


def image_array(image: torch.Tensor, scale: int = 1) -> np.ndarray:
    """One (C, H, W) uint8 image -> (H*scale, W*scale) grey or (H*scale, W*scale, 3) array, nearest-neighbour
    upscaled so that pixels stay sharp."""
    array = image[0].numpy() if image.shape[0] == 1 else image.permute(1, 2, 0).numpy()
    return array.repeat(scale, axis=0).repeat(scale, axis=1) if scale > 1 else array


def display_scale(side: int, target: int = ANIMATION_SIDE) -> int:
    """The integer upscale that brings an image side to at least `target` pixels (1 for large images)."""
    return max(1, -(-target // side))


def gif_bytes(frames: list[np.ndarray], fps: float = 10) -> bytes:
    """Frames (H, W) or (H, W, 3) uint8 -> a looping animated GIF."""
    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:],
                   duration=round(1000 / fps), loop=0)
    return buffer.getvalue()


def ffmpeg_path() -> str | None:
    """The ffmpeg binary on PATH, or None: MP4 output is optional and needs it."""
    return shutil.which("ffmpeg")


def mp4_bytes(frames: list[np.ndarray], fps: float = 10) -> bytes:
    """Frames (H, W) or (H, W, 3) uint8 -> an H.264 MP4 (yuv420p, which every player decodes), encoded by the
    ffmpeg binary from raw frames on its stdin."""
    ffmpeg = ffmpeg_path()
    if ffmpeg is None:
        raise ConfigError("MP4 output needs ffmpeg, which is not on PATH: install it (e.g. `apt-get install "
                          "ffmpeg`) or write a GIF instead")
    rgb = [np.repeat(f[:, :, None], 3, axis=2) if f.ndim == 2 else f for f in frames]
    height, width = rgb[0].shape[:2]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "video.mp4"
        # yuv420p needs even sides: pad odd ones with a black row or column.
        cmd = [ffmpeg, "-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}",
               "-r", str(fps), "-i", "-", "-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2", "-c:v", "libx264",
               "-pix_fmt", "yuv420p", "-movflags", "+faststart", str(out)]
        done = subprocess.run(cmd, input=b"".join(np.ascontiguousarray(f).tobytes() for f in rgb),
                              capture_output=True)
        if done.returncode != 0:
            raise ConfigError(f"ffmpeg could not encode the MP4: {done.stderr.decode(errors='replace').strip()}")
        return out.read_bytes()


class Images:
    """A batch of generated images (N, C, H, W) uint8 that shows itself as a grid in Jupyter; `scale` enlarges
    the grid's pixels (nearest neighbour) for display; `row_labels` (one per row) are written left of the rows,
    as a conditional G's class grid names its classes."""

    def __init__(self, tensor: torch.Tensor, nrow: int | None = None, scale: int = 1,
                 row_labels: list[str] | None = None):
        self.tensor = tensor
        self.nrow = nrow
        self.scale = scale
        self.row_labels = row_labels

    def __len__(self) -> int:
        return self.tensor.shape[0]

    def __repr__(self) -> str:
        # Outside Jupyter (a REPL, print) what the grid holds, not an object address; .save(path) writes it.
        n, c, h, w = self.tensor.shape
        return f"<Images: {n} of {c}x{h}x{w}; .save('grid.png') writes them as a grid, .numpy() gives the array>"

    def grid(self) -> np.ndarray:
        s = self.scale
        tensor = self.tensor.repeat_interleave(s, dim=2).repeat_interleave(s, dim=3) if s > 1 else self.tensor
        array = grid_array(tensor, self.nrow)
        return labelled_rows(array, self.row_labels, tensor.shape[2]) if self.row_labels else array

    def png_bytes(self) -> bytes:
        """The grid as PNG bytes (what Jupyter shows, what a web route sends)."""
        return png_bytes(self.grid())

    def _repr_png_(self) -> bytes:
        """The grid as Jupyter shows it: a small one enlarged (nearest neighbour) to at least DISPLAY_SIDE pixels,
        so 16 samples of 28x28 show at 366 pixels rather than 122; files and web routes keep `scale`."""
        return png_bytes(enlarged(self.grid(), DISPLAY_SIDE))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the grid as an image file (format from the suffix), complete or not at all: a stopped write
        leaves the file that was there."""
        path = Path(path)
        buffer = io.BytesIO()
        Image.fromarray(self.grid()).save(buffer, format=image_format(path))
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, buffer.getvalue())
        return path

    def numpy(self) -> np.ndarray:
        return self.tensor.numpy()



def labelled_rows(grid: np.ndarray, labels: list[str], side: int, padding: int = 2) -> np.ndarray:
    """A grid array laid out by grid_array (rows of images `side` pixels high) with a black margin on its left
    holding each row's label, in light grey text about 40% of a row high, centred on the row."""
    font = ImageFont.load_default(size=max(10, round(side * 0.4)))
    measure = ImageDraw.Draw(Image.new("L", (1, 1)))
    width = max(round(measure.textlength(text, font=font)) for text in labels) + 2 * font.size // 2
    mode, colour = ("L", 220) if grid.ndim == 2 else ("RGB", (220, 220, 220))
    canvas = Image.new(mode, (width + grid.shape[1], grid.shape[0]), 0)
    canvas.paste(Image.fromarray(grid), (width, 0))
    draw = ImageDraw.Draw(canvas)
    for row, text in enumerate(labels):
        middle = padding + row * (side + padding) + side / 2
        draw.text((width - font.size // 2, middle), text, fill=colour, font=font, anchor="rm")
    return np.asarray(canvas)


def image_format(path: str | os.PathLike, option: str = "the path") -> str:
    """The PIL format an image path's suffix asks for (PNG for .png); a folder or a suffix PIL cannot write is a
    ConfigError naming `option`, so a command can check its outputs before it computes them."""
    if Path(path).is_dir():
        raise ConfigError(f"{option} {path} is a folder: give an image file name, e.g. {option} "
                          f"{Path(path) / 'grid.png'}", field=option.lstrip("-"))
    suffix = Path(path).suffix.lower()
    format = Image.registered_extensions().get(suffix)
    if format is None or format not in Image.SAVE:
        what = f"{suffix} is not an image type this can write" if suffix else "the name has no suffix"
        raise ConfigError(f"{option} {path}: {what}; end the name in .png (or .jpg, .webp, ...)",
                          field=option.lstrip("-"))
    return format

def enlarged(array: np.ndarray, side: int) -> np.ndarray:
    """An image array enlarged by the integer factor (nearest neighbour) that brings its longer side to `side`."""
    k = display_scale(max(array.shape[:2]), side)
    return array.repeat(k, axis=0).repeat(k, axis=1) if k > 1 else array


def captioned_frame(path: Path, scale: int) -> Image.Image:
    """A sample grid file as a GIF frame: enlarged by `scale`, with its step (from step-NNNNNNN.png) beneath."""
    with Image.open(path) as grid:
        grid = grid.convert("RGB")
        grid = grid.resize((grid.width * scale, grid.height * scale), Image.NEAREST) if scale > 1 else grid
    frame = Image.new("RGB", (grid.width, grid.height + CAPTION), "white")
    frame.paste(grid)
    step = re.fullmatch(r"step-(\d+)", path.stem)
    if step:
        text = f"step {int(step.group(1)):,}"
        draw = ImageDraw.Draw(frame)
        font = ImageFont.load_default(size=CAPTION - 4)
        width = draw.textlength(text, font=font)
        draw.text(((frame.width - width) / 2, grid.height + 1), text, fill=(70, 70, 70), font=font)
    return frame


def write_gif(frames: list[Path], path: str | os.PathLike, duration_ms: int = 200) -> None:
    """Animate sample grids into a looping GIF of at most MAX_GIF_FRAMES and GIF_PIXEL_BUDGET pixels, evenly
    spread over the grids given, the first and the last kept: small grids enlarged to GIF_SIDE, each frame's step
    beneath it, and the last frame held for LAST_FRAME_MS before the loop starts again."""
    # A grid damaged on disk (a copy cut short, an edit) is left out: the GIF is a view of the run, not its record.
    last = next((f for f in reversed(frames) if _readable(f)), None)
    if last is None:
        return
    with Image.open(last) as image:
        scale = display_scale(max(image.size), GIF_SIDE)
        pixels = image.width * scale * (image.height * scale + CAPTION)
    limit = max(2, min(MAX_GIF_FRAMES, GIF_PIXEL_BUDGET // pixels))
    if len(frames) > limit:
        picks = np.linspace(0, len(frames) - 1, limit).round().astype(int)
        frames = [frames[i] for i in sorted(set(picks.tolist()))]
    images = [frame for frame in (_frame_or_none(f, scale) for f in frames) if frame is not None]
    durations = [duration_ms] * (len(images) - 1) + [max(duration_ms, LAST_FRAME_MS)]
    buffer = io.BytesIO()
    images[0].save(buffer, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0)
    atomic_write_bytes(path, buffer.getvalue())


def _frame_or_none(path: Path, scale: int) -> Image.Image | None:
    """captioned_frame, or None for a grid that does not decode (each frame decoded once)."""
    try:
        return captioned_frame(path, scale)
    except (OSError, ValueError, SyntaxError):
        return None


def _readable(path: Path) -> bool:
    """Whether an image file opens and decodes (its header alone would pass a file cut short)."""
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (OSError, ValueError, SyntaxError):  # PIL's UnidentifiedImageError and truncated data are OSErrors
        return False
