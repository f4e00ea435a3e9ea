"""The Model & record tab's export card: the viewed run's generator from a chosen checkpoint downloads as the
zip `dcgan export` would write (issue 21)."""

from __future__ import annotations

import json
import zipfile


def test_the_model_tab_exports_the_chosen_checkpoint_as_a_zip(open_page, server):
    server.train("e2e-export", steps=10, checkpoint_every=5)
    page = open_page().open()
    page.locator("#run-list button.open", has_text="e2e-export").click()
    page.click("#tab-model")
    page.wait_for_function("document.querySelectorAll('#export-checkpoint option').length >= 2")
    assert page.input_value("#export-checkpoint") == "step-0000010.pt"  # the last, unless one is selected
    page.select_option("#export-checkpoint", "step-0000005.pt")
    page.select_option("#export-format", "safetensors")
    with page.expect_download() as info:
        page.click("#export-go")
    download = info.value
    assert download.suggested_filename == "e2e-export-step5-safetensors.zip"
    with zipfile.ZipFile(download.path()) as archive:
        folder = "e2e-export-step5-safetensors"
        assert f"{folder}/generator.safetensors" in archive.namelist()
        manifest = json.loads(archive.read(f"{folder}/manifest.json"))
    assert manifest["source"] | {"config": None} == {"run": "e2e-export", "checkpoint": "step-0000005.pt", "step": 5,
                                                      "dataset": "fashion-mnist", "config": None}
    page.wait_for_function("document.querySelector('#export-status').textContent.startsWith('downloaded')")
