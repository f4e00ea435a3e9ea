"""Issue 20 over HTTP: real images beside the samples, the G/D loss ratio with the health monitor's bands, style
mixing grids and attribute directions of a real (short) Fashion-MNIST run."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from .conftest import finish


@pytest.fixture(scope="module")
def run(server):
    with server.client() as client:
        return finish(client, steps=30, name="teaching")


def png(response) -> Image.Image:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    return Image.open(io.BytesIO(response.content))


def test_real_images_are_served_at_the_size_of_the_fixed_noise_grid(api, run, server):
    real = png(api.get(f"/api/runs/{run}/real.png"))
    samples = png(api.get(f"/api/runs/{run}/samples/30.png"))
    assert real.size == samples.size == (4 * 28 + 5 * 2, 4 * 28 + 5 * 2)
    assert real.tobytes() != samples.tobytes()
    (server.runs / run / "real.png").rename(server.runs / run / "real.png.bak")
    try:
        missing = api.get(f"/api/runs/{run}/real.png")
        assert missing.status_code == 404 and "no grid of real images" in missing.json()["detail"]
    finally:
        (server.runs / run / "real.png.bak").rename(server.runs / run / "real.png")


def test_the_loss_ratio_is_a_metric_series_and_its_bands_are_published(api, run):
    series = api.get(f"/api/runs/{run}/metrics").json()["series"]
    ratios = [r for r in series["loss/ratio"] if r is not None]
    assert len(ratios) == 30
    assert ratios[-1] == pytest.approx(series["loss/G"][-1] / series["loss/D"][-1])
    bands = api.get("/api/health/bands").json()
    assert bands["ratio_metric"] == "loss/ratio" and bands["ratio_losses"] == ["nonsaturating"]
    names = [b["name"] for b in bands["ratio_bands"]]
    assert names == ["G ahead", "contest", "D overpowers"]
    edges = [(b["low"], b["high"]) for b in bands["ratio_bands"]]
    assert edges[0] == (0, pytest.approx(0.5)) and edges[1][0] == edges[0][1] and edges[2][0] == edges[1][1]
    assert edges[2][1] is None and 200 < edges[2][0] < 260  # where D(x) = 0.99 and D(G(z)) = 0.01


def test_mix_lists_gs_blocks_and_draws_one_grid_per_block(api, run):
    blocks = api.get(f"/api/runs/{run}/mix/blocks").json()["blocks"]
    assert [(b["channels"], b["height"], b["output"]) for b in blocks] == [(16, 7, False), (8, 14, False),
                                                                          (1, 28, True)]
    params = {"rows": [0, 1, 2], "cols": [3, 4, 5, 6], "block": 1}
    grid = png(api.get(f"/api/runs/{run}/mix.png", params=params))
    tile = 28 * 3  # small images are enlarged to at least 64 pixels a side
    assert grid.size == (5 * tile + 6 * 2, 4 * tile + 5 * 2)  # B along the top, A down the left
    bad = api.get(f"/api/runs/{run}/mix.png", params={**params, "block": 3})
    assert bad.status_code == 422 and "block must be from 0 to 2" in bad.json()["detail"]
    too_many = api.get(f"/api/runs/{run}/mix.png", params={**params, "rows": list(range(17))})
    assert too_many.status_code == 422


def test_attribute_slides_toward_a_class_with_its_probabilities(api, run):
    response = api.get(f"/api/runs/{run}/attribute.png", params={"toward": "trouser", "seeds": [0, 1],
                                                                 "steps": 5, "samples": 500})
    strip = png(response)
    assert strip.size == (5 * 84 + 6 * 2, 2 * 84 + 3 * 2)
    assert response.headers["x-class"] == "1 Trouser"
    probabilities = [float(p) for p in response.headers["x-probabilities"].split(",")]
    assert len(probabilities) == 10 and all(0 <= p <= 1 for p in probabilities)
    assert float(response.headers["x-r2"]) <= 1  # held-out R^2 (negative when the fit does not generalise)
    unknown = api.get(f"/api/runs/{run}/attribute.png", params={"toward": "hat"})
    assert unknown.status_code == 422 and "unknown class 'hat'" in unknown.json()["detail"]
    assert unknown.json()["errors"][0]["loc"] == ["query", "toward"]  # the parameter sent, where it was sent
