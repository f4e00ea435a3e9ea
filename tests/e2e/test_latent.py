"""The Generate tab's latent tools (issue 6) and class selector (issue 5), and starting on N processes (issue 8)."""

from __future__ import annotations

import io
import urllib.request
from urllib.parse import parse_qs, urlparse

from PIL import Image

from .conftest import TINY


def image_size(page, selector: str) -> tuple[int, int]:
    return tuple(page.evaluate(f"(() => {{ const i = document.querySelector('{selector}'); "
                               f"return [i.naturalWidth, i.naturalHeight]; }})()"))


def test_interpolation_shows_a_strip_and_a_gif(open_page, server):
    server.train("e2e-latent", steps=20)
    page = open_page().open()
    page.click("#tab-generate")
    page.select_option("#generate-run", "e2e-latent")
    page.fill("#interp-from", "3")
    page.fill("#interp-to", "9")
    page.fill("#interp-steps", "6")
    page.select_option("#interp-mode", "lerp")
    with page.expect_response(lambda r: "/interpolate.gif" in r.url) as gif:
        page.click("#interp-go")
    query = parse_qs(urlparse(gif.value.url).query)
    assert query["from_seed"] == ["3"] and query["to_seed"] == ["9"] and query["steps"] == ["6"]
    assert query["mode"] == ["lerp"]
    with urllib.request.urlopen(gif.value.url) as answer:  # the same URL again: a GIF of the six frames
        assert Image.open(io.BytesIO(answer.read())).n_frames >= 6
    page.wait_for_selector("#interp-strip-box:not([hidden])")
    page.wait_for_function("document.querySelector('#interp-strip').naturalWidth > 0")
    width, height = image_size(page, "#interp-strip")
    assert width > 5 * height  # six frames side by side
    page.wait_for_function("document.querySelector('#interp-gif').naturalWidth > 0")
    assert page.get_attribute("#interp-download", "download").endswith(".gif")


def test_vector_arithmetic_from_samples_clicked_into_groups(open_page, server):
    server.train("e2e-arith", steps=20)
    page = open_page().open()
    page.click("#tab-generate")
    page.select_option("#generate-run", "e2e-arith")
    page.wait_for_function("document.querySelectorAll('#arith-seeds .seed img').length === 16")
    assert page.is_disabled("#arith-go")
    # A: seeds 0 and 1; B: seed 2; C: seeds 3, 4, 5. A click on a chosen sample takes it out again.
    page.click("#arith-seeds .seed[data-seed='0']")
    page.click("#arith-seeds .seed[data-seed='1']")
    page.click("#arith-seeds .seed[data-seed='7']")
    page.click("#arith-seeds .seed[data-seed='7']")
    page.click("#arith-groups button[data-group='b']")
    page.click("#arith-seeds .seed[data-seed='2']")
    page.click("#arith-groups button[data-group='c']")
    for seed in (3, 4, 5):
        page.click(f"#arith-seeds .seed[data-seed='{seed}']")
    assert page.get_attribute("#arith-seeds .seed[data-seed='0']", "data-group") == "a"
    assert page.get_attribute("#arith-seeds .seed[data-seed='7']", "data-group") == ""
    assert page.inner_text("#arith-summary [data-group='c'] .seeds") == "seeds 3, 4, 5"
    with page.expect_request(lambda r: r.url.endswith("/arithmetic.png")) as request:
        page.click("#arith-go")
    assert request.value.post_data_json == {"a": [0, 1], "b": [2], "c": [3, 4, 5], "variations": 8}
    page.wait_for_selector("#arith-result-box:not([hidden])")
    page.wait_for_function("document.querySelector('#arith-result').naturalWidth > 0")


def test_a_conditional_folder_runs_classes_are_named_by_its_sub_folders(open_page, server):
    """A folder's classes are its sub-folders: the class selector showed 0 and 1 instead of cats and dogs."""
    for k, kind in enumerate(("cats", "dogs")):
        folder = server.runs_dir.parent / "data" / "pets" / kind
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(20):
            Image.new("L", (28, 28), 100 * k + i).save(folder / f"{i}.png")
    server.train("e2e-pets", steps=2, dataset="folder:data/pets", image_size=28, channels=1, conditional=True,
                 batch_size=8)
    page = open_page().open()
    page.click("#tab-generate")
    page.select_option("#generate-run", "e2e-pets")
    page.wait_for_function("document.querySelectorAll('#generate-class option').length === 2")
    assert page.locator("#generate-class option").all_inner_texts() == ["0 · cats", "1 · dogs"]


def test_conditional_run_gets_a_class_selector(open_page, server):
    server.train("e2e-cond", steps=10, conditional=True)
    page = open_page().open()
    page.click("#tab-generate")
    page.select_option("#generate-run", "e2e-cond")
    page.wait_for_selector("#class-field:not([hidden])")
    options = page.locator("#generate-class option").all_inner_texts()
    assert len(options) == 10 and options[3] == "3 · Dress"
    page.select_option("#generate-class", "3")
    page.fill("#generate-count", "4")
    with page.expect_response(lambda r: "/generate.png" in r.url and "count=4" in r.url) as answer:
        page.click("#generate")
    assert parse_qs(urlparse(answer.value.url).query)["label"] == ["3"]
    assert answer.value.ok
    page.wait_for_selector("#generate-img:not([hidden])")
    # An unconditional run hides it again.
    server.train("e2e-uncond", steps=10)
    page.click("#refresh-runs")
    page.wait_for_function("[...document.querySelectorAll('#generate-run option')].some(o => o.value === 'e2e-uncond')")
    page.select_option("#generate-run", "e2e-uncond")
    page.wait_for_selector("#class-field", state="hidden")


def test_start_a_run_on_two_local_processes_from_the_form(open_page, server):
    server.idle()
    page = open_page().open()
    for name, value in {"g_width": "8", "d_width": "8", "batch_size": "32", "steps": "40", "log_every": "2",
                        "sample_every": "10", "seed": "1"}.items():
        page.locator(f"#cfg-{name}").locator("xpath=ancestor::details").evaluate("d => d.open = true")
        page.fill(f"#cfg-{name}", value)
    page.fill("#run-name", "e2e-two-processes")
    page.fill("#nproc", "2")
    # The answer, not the request: until the server has it, its status is the last run's ("finished").
    with page.expect_response(lambda r: r.url.endswith("/api/training/start")) as answer:
        page.click("#start")
    assert answer.value.ok and answer.value.request.post_data_json["nproc"] == 2
    server.wait(lambda: server.status()["state"] in ("finished", "failed"), timeout=300, what="the 2-process run")
    status = server.status()
    assert status["state"] == "finished" and status["nproc"] == 2, status
    # It shows like any other run: the whole curve and the grid, and its record says two processes.
    page.wait_for_function("document.querySelector('#view-name').textContent === 'e2e-two-processes'")
    page.wait_for_function(f"Number(document.querySelector('#chart-loss').dataset.points) >= {40 // TINY['log_every']}")
    page.wait_for_selector("#sample-img:not([hidden])")
    page.click("#tab-model")
    page.wait_for_function("document.querySelector('#record').textContent.includes('× 2 processes')")
