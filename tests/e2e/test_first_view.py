"""What a newcomer meets first: the fixed-noise samples right under the curves and large enough to read (at their
own size or larger, with square pixels), any grid drawn smaller than its own size smoothed rather than stripped of
rows, and a visible focus on the run Tab reaches."""

from __future__ import annotations

import os
import re
import subprocess
import sys

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
    # A past run's lines (its log.txt) have no time: they start at the left edge, as the stamps do.
    page.evaluate(set_log, [{"time": None, "level": "info", "message": "device: cpu"},
                            {"time": 1.7e9, "level": "info", "message": "data: ..."}])
    assert page.locator("#log li").first.inner_text() == "device: cpu"
    assert page.locator("#log li time").count() == 1


# Every visible text of the page against the colour behind it (WCAG 2 contrast; the first opaque background up the
# tree). Disabled controls are exempt, as WCAG has them; canvases and images are not text.
LOW_CONTRAST = """(() => {
  const channel = (c) => { c /= 255; return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4; };
  const rgba = (css) => css.match(/[\\d.]+/g).map(Number);
  const luminance = ([r, g, b]) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const behind = (node) => {
    for (let e = node; e; e = e.parentElement) {
      const c = rgba(getComputedStyle(e).backgroundColor);
      if (c.length < 4 || c[3] === 1) return c;
    }
    return [255, 255, 255];
  };
  const low = [];
  for (const e of document.querySelectorAll('body *')) {
    const text = [...e.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join('').trim();
    if (!text || !e.checkVisibility({ opacityProperty: true, visibilityProperty: true }) || e.closest(':disabled')) continue;
    if (!e.getClientRects().length) continue;
    const [a, b] = [luminance(rgba(getComputedStyle(e).color)), luminance(behind(e))];
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) low.push(`${e.tagName.toLowerCase()}.${e.className} '${text.slice(0, 30)}': ${ratio.toFixed(2)}`);
  }
  return low;
})()"""


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_text_of_the_page_reads_at_a_contrast_of_4_5_to_1(open_page, first_run, scheme):
    opened = open_page()
    opened.page.emulate_media(color_scheme=scheme)  # the system's choice, before the charts read their colours
    page = opened.open()
    view(page, first_run)
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(14, 17, 22)") == (scheme == "dark"), background  # the page follows the system
    assert page.evaluate("Chart.defaults.color") == ("#9aa4b2" if scheme == "dark" else "#5b6478")
    page.wait_for_selector("#log li time")
    assert page.evaluate(LOW_CONTRAST) == []
    page.click("#tab-generate")  # the vector arithmetic's coloured group names
    page.wait_for_selector("#arith-summary [data-group='b'] b")
    assert page.evaluate(LOW_CONTRAST) == []
    assert page.get_attribute("#progress", "aria-label") == "training progress"
    page.click("#tab-model")  # the record's command scrolls: a keyboard reaches it
    page.wait_for_selector("#record code.command")
    assert page.get_attribute("#record code.command", "tabindex") == "0"


def test_a_charts_tooltip_names_its_step_with_thousands_separated(open_page, first_run):
    page = open_page().open()
    view(page, first_run)
    title = page.evaluate("Chart.getChart(document.querySelector('#chart-loss'))"
                          ".options.plugins.tooltip.callbacks.title([{parsed: {x: 12345, y: 0.3}}])")
    assert title == "step 12,345"


def test_the_live_hyperparameters_of_a_run_not_training_look_read_only(open_page, first_run):
    page = open_page().open()
    view(page, first_run)
    page.wait_for_function("document.querySelector('#live-lr_g').value !== ''")  # the run's values, shown
    background = "(s) => getComputedStyle(document.querySelector(s)).backgroundColor"
    assert page.is_disabled("#live-lr_g")
    assert page.evaluate(background, "#live-lr_g") != page.evaluate(background, "#run-name")  # an editable box


def test_a_run_opened_from_the_list_at_the_foot_of_a_phone_comes_into_sight(open_page, first_run):
    page = open_page(390, 844).open()
    opener = page.locator("#run-list button.open", has_text=first_run)
    opener.scroll_into_view_if_needed()
    assert page.locator("#progress-card").bounding_box()["y"] < -1000  # the list is far below the run's card
    opener.click()
    page.wait_for_function("(() => { const t = document.querySelector('#progress-card').getBoundingClientRect().top;"
                           " return t >= 0 && t < innerHeight / 2; })()")
    assert page.inner_text("#view-name") == first_run


def test_the_run_list_keeps_the_button_just_pressed(open_page, first_run):
    """The list is rendered on every open and status change; rebuilding each row dropped the keyboard focus of the
    button just pressed, and a click (or a test's scroll) could meet a button already taken out of the page."""
    page = open_page().open()
    opener = page.locator("#run-list button.open", has_text=first_run)
    opener.focus()
    page.keyboard.press("Enter")
    page.wait_for_function(f"document.querySelector('#view-name').textContent === {first_run!r}")
    handle = opener.element_handle()
    assert handle.evaluate("(button) => document.activeElement === button")
    page.evaluate("async () => (await import('/static/runs.js')).refreshRuns()")  # as a status change does
    assert handle.evaluate("(button) => button.isConnected && document.activeElement === button")


def test_a_run_not_training_shows_no_controls_that_act_on_a_training(open_page, first_run):
    page = open_page(390, 844).open()
    view(page, first_run)
    for control in ("#pause", "#save-checkpoint", "#stop"):  # shown beside a training (test_dashboard's start)
        assert page.is_hidden(control), control
    assert page.is_visible("#fork")


def test_an_evaluation_reads_as_measurements(open_page, server, first_run):
    """IS as a mean and its spread, written as a measurement (the spread to two significant digits, the mean to the
    same place: 0.1276 ± 0.01263 was shown as it came); a KID without a spread (too few samples) shows none."""
    subprocess.run([sys.executable, "-m", "dcgan", "eval", str(server.runs_dir / first_run), "-n", "500",
                    "--features", "classifier"], check=True, capture_output=True, cwd=server.runs_dir.parent,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    page = open_page().open()
    view(page, first_run)
    page.wait_for_selector("#eval-table tr[data-metric='is']")
    shown = page.inner_text("#eval-table tr[data-metric='is'] td")
    match = re.fullmatch(r"(\d+)\.?(\d*) ± (\d+)\.?(\d*)", shown)
    assert match, shown
    mean_places, spread_whole, spread_places = match.group(2, 3, 4)
    assert len(mean_places) == len(spread_places), shown  # the same decimal place
    assert len((spread_whole + spread_places).lstrip("0")) == 2, shown  # two significant digits
    assert "±" not in page.inner_text("#eval-table tr[data-metric='kid'] td")


def test_the_run_card_ends_with_its_content_not_a_blank_line(open_page, first_run):
    page = open_page().open()
    view(page, first_run)
    say = "async (text) => (await import('/static/util.js')).say(text)"
    page.evaluate(say, "")
    card, resume = page.locator("#progress-card").bounding_box(), page.locator("#resume-row").bounding_box()
    assert card["y"] + card["height"] - (resume["y"] + resume["height"]) <= 20  # the card's padding, no more
    page.evaluate(say, "started it")
    assert page.is_visible("#message")
