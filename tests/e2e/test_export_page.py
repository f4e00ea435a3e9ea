"""The page `dcgan export --format page` writes, in headless Chromium: opened from the file system and from a
static web server, it draws the images PyTorch draws for the same noise (handed to it through window.dcgan),
offers the class picker of a conditional run, a seed slider, an interpolation strip and a PNG download, and
asks the network for nothing."""

from __future__ import annotations

import base64
import functools
import io
import threading
import urllib.parse
import urllib.request
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from PIL import Image

from dcgan.export import export_loaded, export_run
from dcgan.images import grid_array
from dcgan.sampling import load_generator
from test_export import init_generator, tiny_run

# Grey levels (of 255) a page pixel may differ from PyTorch's: onnxruntime-web's float32 arithmetic differs from
# PyTorch's in the last bits, which can move a value across a rounding boundary. Measured on 64 images: none of
# 59k pixels differ at 28x28, none of 225k at 32x32, 1-2 of 843k (by 1) at 64x64.
PIXEL_TOLERANCE = 1
# A canvas's pixels as a PNG data URL: lossless (every image pixel is opaque), and far smaller to hand over than
# the RGBA numbers themselves.
READ_CANVAS = "(id) => document.getElementById(id).toDataURL('image/png')"


class Opened:
    """A page with every URL it requested and every error it logged."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1200, "height": 900}, accept_downloads=True)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(url)
        self.page.wait_for_selector("body[data-ready='1']", timeout=120_000)

    def grid(self, canvas: str = "grid") -> np.ndarray:
        """The canvas's pixels, (H, W, 4) RGBA."""
        url = self.page.evaluate(READ_CANVAS, canvas)
        png = base64.b64decode(url.split(",", 1)[1])
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA")).astype(np.int64)

    def draw(self, z: torch.Tensor, labels: list[int] | None = None) -> np.ndarray:
        self.page.evaluate("([z, labels]) => window.dcgan.drawNoise(z, labels)", [z.tolist(), labels])
        return self.grid()

    def close(self) -> None:
        self.context.close()
        assert not self.errors, self.errors


def assert_same_pixels(drawn: np.ndarray, expected: np.ndarray) -> None:
    """The page's RGBA canvas against grid_array's (H, W) grey or (H, W, 3) grid of PyTorch's images."""
    rgb = drawn[..., :3] if expected.ndim == 3 else drawn[..., 0]
    assert rgb.shape == expected.shape
    assert expected.std() > 20  # images with content, not a blank that anything would match
    difference = np.abs(rgb - expected.astype(np.int64))
    assert difference.max() <= PIXEL_TOLERANCE, f"{(difference > 0).mean():.2%} of the pixels differ"
    assert (drawn[..., 3] == 255).all()
    if expected.ndim == 2:  # grey shows as R = G = B
        assert (drawn[..., 0] == drawn[..., 1]).all() and (drawn[..., 1] == drawn[..., 2]).all()


@pytest.fixture(scope="module")
def conditional(tmp_path_factory, fashion):
    """A real conditional run on Fashion-MNIST (28x28 grey), exported as a page."""
    root = tmp_path_factory.mktemp("page")
    run = tiny_run(root / "cond", fashion, conditional=True, steps=3)
    return load_generator(run), export_run(run, root / "share", format="page")


@pytest.fixture(scope="module")
def colour(tmp_path_factory):
    """A 64x64 colour generator of a real config (the parity tests' one), exported as a page and served by a
    static web server."""
    g = init_generator(64, False)
    folder = tmp_path_factory.mktemp("colour") / "share"
    export_loaded(g, folder, format="page")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield g, f"http://127.0.0.1:{server.server_address[1]}/index.html"
    server.shutdown()
    server.server_close()


def test_the_page_from_the_file_system_draws_pytorchs_images_for_the_same_noise(browser, conditional):
    g, exported = conditional
    opened = Opened(browser, (exported.folder / "index.html").as_uri())
    z, labels = g.noise(12, seed=9), [i % 10 for i in range(12)]
    assert_same_pixels(opened.draw(z, labels), grid_array(g.generate(z, torch.tensor(labels))))
    assert all(url.startswith(("file://", "blob:")) for url in opened.requests), opened.requests
    opened.close()


def test_a_conditional_page_offers_its_classes_by_name(browser, conditional):
    g, exported = conditional
    opened = Opened(browser, (exported.folder / "index.html").as_uri())
    page = opened.page
    options = page.locator("#class option").all_text_contents()
    assert options[0] == "every class in turn" and options[8] == "7 · Sneaker" and len(options) == 11
    # Every class in turn: a column per class (64 images: 10 columns of 28 + 2 pixels).
    page.wait_for_function("document.getElementById('status').textContent.includes('a column per class')")
    assert page.evaluate("document.getElementById('grid').width") == 10 * 30 + 2
    page.select_option("#class", "7")
    page.wait_for_function("document.getElementById('status').textContent.includes('class 7 · Sneaker')")
    page.wait_for_function("document.getElementById('interp-status').textContent.includes('7 · Sneaker')")
    grid = opened.grid()
    # Every image of the grid is class 7 now: the page's first image equals G(its z, 7) drawn by the hook.
    first = grid[2:30, 2:30, 0]
    z0 = torch.tensor(page.evaluate("() => Array.from(window.dcgan.seededNormals(0, 16))"))[None]
    assert np.abs(first - g.generate(z0, 7)[0, 0].numpy().astype(np.int64)).max() <= PIXEL_TOLERANCE
    # A seed outside the range is drawn as the nearest one, and the box then says so as the status line does.
    page.fill("#seed", "-5")
    page.press("#seed", "Tab")
    assert page.input_value("#seed") == "0"
    page.wait_for_function("document.getElementById('status').textContent.includes('from seed 0, class 7')")
    # On a phone the page fits its width: Fashion-MNIST's licence link wraps instead of widening every section.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    opened.close()


def test_the_page_from_a_static_host_draws_colour_images_like_pytorch(browser, colour):
    g, url = colour
    opened = Opened(browser, url)
    z = g.noise(8, seed=4)
    assert_same_pixels(opened.draw(z), grid_array(g.generate(z)))
    assert all(url.startswith(("http://127.0.0.1", "blob:")) for url in opened.requests), opened.requests
    # The licence link opens as text: a file without a suffix is served as bytes to download.
    licence = urllib.parse.urljoin(url, opened.page.get_attribute("a[href*='LICENSE']", "href"))
    with urllib.request.urlopen(licence) as answer:
        assert answer.headers.get_content_type() == "text/plain" and b"MIT License" in answer.read()
    opened.close()


def test_the_seed_slider_interpolation_and_download(browser, colour, tmp_path):
    g, url = colour
    opened = Opened(browser, url)
    page = opened.page
    before = opened.grid()
    page.eval_on_selector("#seed-slider", "s => { s.value = '5'; s.dispatchEvent(new Event('input')); }")
    page.wait_for_function("document.getElementById('status').textContent.includes('from seed 5 ')")
    assert page.input_value("#seed") == "5"
    after = opened.grid()
    assert after.shape == before.shape and not np.array_equal(after, before)

    page.fill("#steps", "4")
    page.wait_for_function("document.getElementById('strip').width === 4 * (64 + 2) + 2")
    strip = opened.grid("strip")
    assert strip.shape == (64 + 4, 4 * 66 + 2, 4) and strip[2:66, 2:66, :3].std() > 20

    with page.expect_download() as download:
        page.click("#download")
    assert download.value.suggested_filename == "dcgan-step0-seed5.png"  # no run folder: a generic name
    saved = np.asarray(Image.open(download.value.path()).convert("RGBA"))
    assert np.array_equal(saved.astype(np.int64), after)
    opened.close()
