"""The dashboard's export (issue 21): GET /api/runs/{name}/export.zip gives `dcgan export`'s folder as a zip, for
the selected or a named checkpoint; bad names and formats are refused, and one export runs at a time."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import onnxruntime
import pytest

from dcgan.sampling import load_generator
from dcgan.server.routes.runs import EXPORTS

from .conftest import finish


@pytest.fixture(scope="module")
def run(server):
    with server.client() as client:
        return finish(client, steps=6, name="to-share", checkpoint_every=3)


def unzip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_an_onnx_export_of_a_chosen_checkpoint_downloads_as_a_zip(api, run, server):
    response = api.get("/api/runs/to-share/export.zip", params={"format": "onnx", "checkpoint": "step-0000003.pt"})
    archive = unzip(response)
    assert 'filename="to-share-step3-onnx.zip"' in response.headers["content-disposition"]
    names = sorted(archive.namelist())
    assert names == [f"to-share-step3-onnx/{n}" for n in ("MODEL_CARD.md", "generator.onnx", "manifest.json",
                                                           "samples.png")]
    manifest = json.loads(archive.read("to-share-step3-onnx/manifest.json"))
    assert manifest["source"]["step"] == 3 and manifest["source"]["checkpoint"] == "step-0000003.pt"
    # The model in the zip is that checkpoint's generator.
    g = load_generator(server.runs / "to-share" / "checkpoints" / "step-0000003.pt")
    session = onnxruntime.InferenceSession(archive.read("to-share-step3-onnx/generator.onnx"))
    z = g.noise(4, seed=0)
    np.testing.assert_allclose(session.run(None, {"z": z.numpy()})[0], g.model(z).detach().numpy(), atol=1e-5)


def test_the_page_export_holds_the_page_and_onnxruntime_web(api, run):
    archive = unzip(api.get("/api/runs/to-share/export.zip"))  # the default format: the page, last checkpoint
    names = set(archive.namelist())
    for name in ("index.html", "page.js", "model.js", "onnxruntime-web/ort.js", "onnxruntime-web/ort-wasm.js",
                 "onnxruntime-web/LICENSE.txt", "MODEL_CARD.md", "manifest.json"):
        assert f"to-share-step6-page/{name}" in names


@pytest.mark.parametrize("query, status, words", [
    ({"format": "keras"}, 422, "format"),
    ({"checkpoint": "../../etc/passwd"}, 422, "checkpoint"),
    ({"checkpoint": "step-0000999.pt"}, 404, "no checkpoint 'step-0000999.pt'"),
])
def test_bad_formats_and_checkpoints_are_refused(api, run, query, status, words):
    response = api.get("/api/runs/to-share/export.zip", params=query)
    assert response.status_code == status and words in response.json()["detail"]


def test_a_run_name_cannot_leave_the_runs_folder(api, run):
    assert api.get("/api/runs/..%2F..%2Fetc/export.zip").status_code in (404, 422)
    assert api.get("/api/runs/nope/export.zip").status_code == 404


def test_one_export_at_a_time(api, run):
    assert EXPORTS.acquire(blocking=False)  # as if another request were exporting
    try:
        response = api.get("/api/runs/to-share/export.zip", params={"format": "safetensors"})
    finally:
        EXPORTS.release()
    assert response.status_code == 429 and response.headers["retry-after"] == "10"
    assert "another export" in response.json()["detail"]
    assert api.get("/api/runs/to-share/export.zip", params={"format": "safetensors"}).status_code == 200
