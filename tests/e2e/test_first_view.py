"""What a newcomer meets first: the fixed-noise samples right under the curves and large enough to read (at their
own size or larger, with square pixels), any grid drawn smaller than its own size smoothed rather than stripped of
rows, and a visible focus on the run Tab reaches."""

from __future__ import annotations

import pytest

GRID = """((selector) => { const i = document.querySelector(selector);
    return {shown: i.clientWidth, natural: i.naturalWidth, rendering: getComputedStyle(i).imageRendering}; })"""


@pytest.fixture(scope="module")
def first_run(server) -> str:
    server.train("e2e-first-view", steps=4)
    return "e2e-first-view"


def view(page, name: str) -> None:
    page.locator("#run-list button.open", has_text=name).click()
    page.wait_for_function(f"document.querySelector('#view-name').textContent === {name!r}")
    for image in ("#sample-img", "#real-img"):
        page.wait_for_function(f"(() => {{ const i = document.querySelector('{image}'); return !i.hidden"
                               f" && i.src.includes({name!r}) && i.complete && i.naturalWidth > 0; }})()")


@pytest.mark.parametrize("width, height", [(1280, 800), (390, 844)])
def test_the_samples_sit_under_the_curves_at_their_own_size_or_larger(open_page, first_run, width, height):
    page = open_page(width, height).open()
    view(page, first_run)
    for image in ("#sample-img", "#real-img"):
        grid = page.evaluate(GRID, image)
        assert grid["shown"] >= grid["natural"] and grid["rendering"] == "pixelated", (image, grid)
    # Above the Balance chart and the live hyperparameters, next to the curves.
    sample, balance = page.locator("#sample-img").bounding_box(), page.locator("#chart-ratio").bounding_box()
    assert sample["y"] + sample["height"] < balance["y"]


def test_a_grid_shown_smaller_than_its_size_is_smoothed_not_stripped(open_page, first_run):
    page = open_page(390, 844).open()
    page.click("#tab-generate")
    page.select_option("#generate-run", first_run)
    for count, rendering in (("256", "auto"), ("16", "pixelated")):  # 16 x 16 images: wider than a phone
        page.fill("#generate-count", count)
        page.click("#generate")
        page.wait_for_function(f"document.querySelector('#generate-img').naturalWidth > 0 && "
                               f"getComputedStyle(document.querySelector('#generate-img')).imageRendering"
                               f" === {rendering!r}")
        grid = page.evaluate(GRID, "#generate-img")
        assert (grid["shown"] < grid["natural"]) == (rendering == "auto"), grid


def test_the_run_tab_reaches_shows_its_focus(open_page, first_run):
    page = open_page().open()
    page.wait_for_selector(f"#run-list li[data-run='{first_run}'] button.open")
    page.focus("#refresh-runs")
    page.keyboard.press("Tab")  # the first run's checkbox
    page.keyboard.press("Tab")  # its name, which opens it
    focused = page.evaluate("(() => { const e = document.activeElement; const s = getComputedStyle(e);"
                            " return {open: e.matches('#run-list button.open'), outline: s.outlineStyle,"
                            " width: parseFloat(s.outlineWidth)}; })()")
    assert focused["open"] and focused["outline"] != "none" and focused["width"] >= 2, focused


def test_an_empty_log_says_what_comes_there_and_a_count_reads_as_words(open_page, first_run):
    page = open_page().open()
    view(page, first_run)
    set_log = "async (lines) => (await import('/static/training.js')).setLog(lines)"
    page.evaluate(set_log, [])
    empty = page.evaluate("getComputedStyle(document.querySelector('#log'), '::before').content")
    assert "log lines appear here" in empty, empty
    page.evaluate(set_log, [{"time": 0, "level": "info", "message": "one"}])
    assert page.inner_text("#log-count") == "1 line"
    page.evaluate(set_log, [{"time": 0, "level": "info", "message": m} for m in ("one", "two")])
    assert page.inner_text("#log-count") == "2 lines"
