"""The dashboard page in real Chromium: the form from the config schema, live training, stop, resume, reload,
generation, the record and the phone layout."""

from __future__ import annotations

import io
import math
import re
import shutil

from PIL import Image

from conftest import write_metrics_as_before_the_vocabulary
from dcgan.server.schemas import SampleMessage

from .conftest import TINY, Page, number, save_screenshot, serving

FORM_VALUES = {"g_width": "8", "d_width": "8", "batch_size": "32", "steps": "100000", "seed": "1"}
REPORT_VALUES = {"log_every": "2", "sample_every": "10", "checkpoint_every": "50"}


def points(page, chart: str = "#chart-loss") -> int:
    return int(page.get_attribute(chart, "data-points"))


def fill_form(page, values: dict[str, str]) -> None:
    for name, value in values.items():
        box = page.locator(f"#cfg-{name}")
        box.locator("xpath=ancestor::details").evaluate("d => d.open = true")
        box.fill(value)


def test_page_loads_without_errors_and_builds_the_form_from_the_schema(open_page, server):
    opened = open_page(1366, 768)  # a small laptop
    page = opened.open()
    # Start is in reach without scrolling, and the length a run would have is said before it starts: the
    # default's, which the server resolves (and in the empty length boxes, what "auto" will be).
    start = page.locator("#start").bounding_box()
    assert start["y"] + start["height"] <= 768, start
    resolved = server.call("POST", "/api/config/resolve", {"config": {}})
    epochs = resolved["config"]["epochs"]
    assert page.inner_text("#run-length") == (f"Length: {epochs} epochs = {resolved['total_steps']:,} steps "
                                              f"(the default here)")
    assert page.get_attribute("#cfg-epochs", "placeholder") == f"auto: {epochs} epochs"

    schema = server.call("GET", "/api/config/schema")
    # world_size is set by the launcher: the form's "processes" box instead.
    shown = [f for f in schema["fields"] if f["name"] not in schema["launcher_options"]]
    assert page.locator("#config-fields [data-field]").count() == len(shown)
    groups = {f["group"] for f in shown}
    assert sorted(page.locator("#config-fields details").evaluate_all("ds => ds.map(d => d.dataset.group)")) == sorted(groups)
    open_groups = page.locator("#config-fields details[open]").evaluate_all("ds => ds.map(d => d.dataset.group)")
    assert open_groups == schema["main_groups"]
    assert page.locator("#hparam-form input").evaluate_all("is => is.map(i => i.dataset.field)") == schema["live_fields"]
    # Bounds, choices and help come from the schema, not from the page.
    batch = next(f for f in shown if f["name"] == "batch_size")
    assert page.get_attribute("#cfg-batch_size", "min") == str(batch["ge"])
    assert batch["help"] in page.locator("#cfg-batch_size").locator("xpath=..").text_content()
    loss = next(f for f in shown if f["name"] == "loss")
    assert page.locator("#cfg-loss option").evaluate_all("os => os.map(o => o.value)") == loss["choices"]
    assert page.locator("#preset option").count() == len(schema["presets"]) + 1
    # The dataset choice lists the registry's datasets, as the server finds them (MNIST in the data home).
    registry = server.call("GET", "/api/system/datasets")["datasets"]
    offered = page.locator("#datasets option").evaluate_all("os => os.map(o => [o.value, o.textContent])")
    assert [value for value, _ in offered] == [d["name"] for d in registry]
    mnist = next(text for value, text in offered if value == "mnist")
    assert "handwritten digits" in mnist and "available offline" in mnist
    # A bad value is refused by the server (422, on purpose here) and shown on its field.
    opened.expected_statuses.add(422)
    fill_form(page, {"batch_size": "0"})
    page.click("#start")
    page.wait_for_selector("#cfg-batch_size.invalid")
    assert ">= 1" in page.inner_text("#form-error")
    assert server.status()["state"] not in ("running", "starting")
    # An emptied box, or letters Chromium reads as no number, is refused in place and named: sent without it,
    # the run would train with the default while the box looks empty.
    for name, typed, said in (("batch_size", "", "batch size: give a value (the default is 16)"),
                              ("dataset", "", "dataset: give a value (the default is fashion-mnist)"),
                              ("lr", "1e", "lr: not a number (the default is 0.001)")):
        fill_form(page, {"batch_size": "16"})
        page.fill(f"#cfg-{name}", "")
        page.locator(f"#cfg-{name}").press_sequentially(typed)
        page.click("#start")
        page.wait_for_function(f"document.querySelector('#form-error').textContent === {said!r}")
        assert page.locator(".invalid").evaluate_all("ns => ns.map(n => n.id)") == [f"cfg-{name}"]
        assert page.evaluate("document.activeElement.id") == f"cfg-{name}"
        page.fill(f"#cfg-{name}", {"batch_size": "16", "dataset": "fashion-mnist", "lr": "0.001"}[name])
    assert server.status()["state"] not in ("running", "starting")


def test_the_page_takes_its_lists_of_options_from_the_server(open_page, server):
    """Which options are live-editable, which groups the form opens, which options the launcher sets, and the
    interpolation modes and export formats offered come from GET /api/config/schema, not from a copy in the page:
    served other lists, the page follows them."""
    opened = open_page()
    schema = server.call("GET", "/api/config/schema")
    assert [c["name"] for c in schema["export_formats"]][0] == "page"
    served = {**schema, "live_fields": ["d_steps", "lr_d"], "main_groups": ["technique"],
              "launcher_options": ["world_size", "seed"],
              "interpolation_modes": [{"name": "lerp", "label": "straight"}],
              "export_formats": [{"name": "safetensors", "label": "weights"}, {"name": "onnx", "label": "ONNX"}]}
    opened.page.route("**/api/config/schema", lambda route: route.fulfill(json=served))
    page = opened.open()
    assert page.locator("#hparam-form input").evaluate_all("is => is.map(i => i.dataset.field)") == ["d_steps", "lr_d"]
    groups = page.locator("#config-fields details").evaluate_all("ds => ds.map(d => [d.dataset.group, d.open])")
    assert groups[0] == ["technique", True] and not any(is_open for _, is_open in groups[1:])
    assert page.locator("#cfg-seed").count() == 0 and page.locator("#cfg-world_size").count() == 0
    assert page.locator("#cfg-lr").count() == 1
    options = "ss => ss.map(o => [o.value, o.textContent])"
    assert page.locator("#interp-mode option").evaluate_all(options) == [["lerp", "straight"]]
    assert page.locator("#export-format option").evaluate_all(options) == [["safetensors", "weights"], ["onnx", "ONNX"]]


IN_SIGHT = "(s) => { const t = document.querySelector(s).getBoundingClientRect().top; return t >= 0 && t < innerHeight / 2; }"


def test_start_from_the_form_shows_live_charts_progress_and_grid_then_stop(open_page, server, tmp_path):
    server.idle()
    page = open_page(1400, 900).open()
    fill_form(page, {**FORM_VALUES, **REPORT_VALUES})
    page.fill("#run-name", "e2e-live")
    page.locator("#cfg-" + list(REPORT_VALUES)[-1]).scroll_into_view_if_needed()
    assert top(page, "#progress-card") < 0  # scrolled down the long form, as one is after choosing options
    page.click("#start")
    page.wait_for_function("document.querySelector('#status-pill').textContent === 'running'")
    assert page.inner_text("#view-name") == "e2e-live"
    page.wait_for_function(IN_SIGHT, arg="#progress-card")  # the live run's card comes into sight
    # The charts gain points as steps are logged, both of them.
    page.wait_for_function("Number(document.querySelector('#chart-loss').dataset.points) >= 10")
    page.wait_for_function("Number(document.querySelector('#chart-d').dataset.points) >= 10")
    first = points(page)
    page.wait_for_function(f"Number(document.querySelector('#chart-loss').dataset.points) > {first + 5}")
    # The fixed-noise grid appears and moves on to later steps.
    page.wait_for_selector("#sample-img:not([hidden])")
    step_before = int(page.get_attribute("#sample-img", "data-step"))
    page.wait_for_function(f"Number(document.querySelector('#sample-img').dataset.step) > {step_before}")
    assert page.evaluate("document.querySelector('#sample-img').naturalWidth") > 0
    # Progress: step, images/s and ETA.
    assert number(page.inner_text("#stat-step")) > 0
    page.wait_for_function("document.querySelector('#stat-speed').textContent !== '–'")
    assert number(page.inner_text("#stat-speed")) > 0
    assert page.inner_text("#stat-eta") not in ("–", "")  # a time, or 'measuring' through the warm-up
    assert float(page.evaluate("parseFloat(document.querySelector('#progress-bar').style.width)")) > 0
    assert page.locator("#log li").count() >= 3
    save_screenshot(page, tmp_path, "dashboard.png")
    # Stop: finishes the step, writes a checkpoint; the page offers to resume.
    page.click("#stop")
    page.wait_for_function("document.querySelector('#status-pill').textContent === 'stopped'")
    page.wait_for_selector("#resume-row:not([hidden])")
    assert server.call("GET", "/api/runs/e2e-live")["checkpoints"]


def log_shows(page, name: str, server) -> None:
    """The Log card holds the run's own lines (GET /api/runs/{name}/log), not the live run's."""
    lines = [line["message"] for line in server.call("GET", f"/api/runs/{name}/log")["lines"]]
    assert lines
    # Waited for by count and last line: the log shown before the switch may have as many lines (a race seen once).
    page.wait_for_function("([n, last]) => { const li = document.querySelectorAll('#log li'); "
                           "return li.length === n && li[n - 1].textContent.endsWith(last); }",
                           arg=[len(lines), lines[-1]])
    assert page.locator("#log li").last.inner_text().endswith(lines[-1])


class LiveLink:
    """The page's live socket, routed through the test so that it can be cut as by a server that went away (each
    reconnection refused while `down`) and let back."""

    def __init__(self, opened):
        opened.expected_messages += ["ERR_FAILED", "WebSocket"]
        self.down, self.sockets = False, []
        opened.page.route_web_socket(re.compile(r"/api/live$"), self._route)

    def _route(self, socket):
        if self.down:
            socket.close()
        else:
            socket.connect_to_server()
            self.sockets.append(socket)

    def cut(self):
        self.down = True
        self.sockets[-1].close()


def test_start_is_off_while_the_server_is_not_answering(open_page, server):
    """Nothing trains and the connection is lost: Start waits for the server (it stayed clickable, only to answer
    'the server is not answering'; found by the dashboard audit), and comes back with it."""
    server.idle()
    opened = open_page()
    link = LiveLink(opened)
    page = opened.open()
    page.wait_for_selector("#start:not([disabled])")
    link.cut()
    page.wait_for_selector("#offline:not([hidden])")
    assert page.is_disabled("#start")
    link.down = False
    page.wait_for_selector("#offline", state="hidden", timeout=30000)
    page.wait_for_selector("#start:not([disabled])")


def test_a_run_killed_before_its_first_checkpoint_offers_resume(open_page, server):
    """Its trainer gone (status.json still says running) and no checkpoint: the card offers Resume, which trains it
    again from step 0 (the page hid Resume for runs without checkpoints, and for interrupted ones)."""
    server.idle()
    run = server.runs_dir / "e2e-killed-early"
    server.train("e2e-killed-early", steps=2)
    server.idle()
    for path in (run / "checkpoints").iterdir():
        path.unlink()
    (run / "status.json").write_text('{"status": "running", "step": 1, "total_steps": 2}')
    page = open_page().open()
    page.click("#run-list li[data-run='e2e-killed-early'] button.open")
    page.wait_for_function("document.querySelector('#view-name').textContent === 'e2e-killed-early'")
    page.wait_for_selector("#resume-row:not([hidden])")
    page.click("#resume")
    server.wait(lambda: (run / "checkpoints" / "step-0000002.pt").is_file(), what="the run trained again")
    server.idle()


def test_resume_then_reload_mid_run_shows_the_whole_curve(open_page, server):
    """Also: a past run opened (while nothing trains, and while another run trains) shows its own log, named as
    not the live run's while one trains, and the controls that act on the live run are on only beside the live
    run."""
    server.train("e2e-resume-other", steps=2)
    server.start({"name": "e2e-resume", "config": {**TINY, "steps": 100000}})
    server.wait(lambda: server.status()["step"] >= 40, what="40 steps")
    server.call("POST", "/api/training/stop?wait_s=60", timeout=90)
    stopped_at = server.status()["step"]

    opened = open_page()
    opened.expected_statuses.add(422)
    page = opened.open()
    page.locator("#run-list button.open", has_text="e2e-resume-other").click()
    log_shows(page, "e2e-resume-other", server)
    page.click("#run-list li[data-run='e2e-resume'] button.open")
    page.wait_for_function("document.querySelector('#view-name').textContent === 'e2e-resume'")
    page.wait_for_selector("#resume-row:not([hidden])")
    # A refused resume says why and leaves the button usable for the next try.
    page.fill("#resume-steps", "-5")
    page.click("#resume")
    page.wait_for_selector("#message.error")
    assert "steps" in page.inner_text("#message")
    page.wait_for_selector("#resume:not([disabled])")
    page.fill("#resume-steps", "")
    page.click("#resume")
    page.wait_for_function("document.querySelector('#status-pill').textContent === 'running'")
    page.wait_for_function(f"Number(document.querySelector('#stat-step').dataset.step) > {stopped_at + 20}")
    # The record has the resumed session without a reload.
    page.click("#tab-model")
    page.wait_for_function("document.querySelector('#record').textContent.includes('session 2 of 2 (resumed)')")
    page.click("#tab-training")
    page.wait_for_selector("#pause:not([disabled])")
    assert page.is_hidden("#log-run")  # nothing else trains: the Log is the viewed run's, as always
    page.locator("#run-list button.open", has_text="e2e-resume-other").click()
    log_shows(page, "e2e-resume-other", server)
    # Beside a live run, the Log card says whose lines it shows.
    page.wait_for_selector("#log-run:not([hidden])")
    assert page.inner_text("#log-run").startswith("e2e-resume-other's log, not the live run's (e2e-resume")
    for control in ("#pause", "#stop", "#save-checkpoint"):  # they act on the live run, not the one in view
        assert page.is_disabled(control), control
    # A line the live run logs meanwhile (as the server sends it, with its run) is counted there, not shown.
    page.evaluate("import('/static/training.js').then((m) => m.liveLogLine({time: 0, level: 'info', "
                  "message: 'a live line'}, 'e2e-resume'))")
    page.wait_for_function("document.querySelector('#log-run').textContent.endsWith(', 1 new line there)')")
    assert "a live line" not in page.inner_text("#log")
    page.click("#go-live")
    page.wait_for_selector("#log-run", state="hidden")
    page.wait_for_selector("#pause:not([disabled])")
    assert not page.is_disabled("#stop") and not page.is_disabled("#save-checkpoint")
    page.wait_for_function(f"Number(document.querySelector('#stat-step').dataset.step) > {stopped_at + 20}")
    before = points(page)
    assert before > 20
    # A reload mid-run: the hello message carries the history, so the curve is whole at once.
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    page.wait_for_function(f"Number(document.querySelector('#chart-loss').dataset.points) >= {before}")
    first_step = page.evaluate("Chart.getChart(document.querySelector('#chart-loss')).data.datasets[0].data[0].x")
    assert first_step <= TINY["log_every"]  # from the run's first logged step, not from the reload
    assert page.inner_text("#view-name") == "e2e-resume"


def test_a_server_that_stops_answering_is_said_and_the_run_controls_wait_for_it(open_page, server):
    """The server goes away mid-run (its live socket and requests cut here, while the run is stopped behind them,
    as a restarted server would have it): a banner says so at once, the run's controls are off, the ETA shows no
    stale number and a request that fails says why in words. Back, the banner and that error go, and the page
    says the run no longer trains."""
    server.idle()
    server.start({"name": "e2e-offline", "config": {**TINY, "steps": 100000}})
    opened = open_page()
    link = LiveLink(opened)
    page = opened.open()
    page.wait_for_function("document.querySelector('#status-pill').textContent === 'running'")
    page.wait_for_selector("#pause:not([disabled])")
    page.wait_for_function("document.querySelector('#stat-eta').textContent !== '–'")

    page.route("**/api/**", lambda route: route.abort())
    link.cut()
    page.wait_for_selector("#offline:not([hidden])")
    assert "not answering — retrying" in page.inner_text("#offline")
    for control in ("#pause", "#stop", "#save-checkpoint", "#fork", "#hparam-apply"):
        assert page.is_disabled(control), control
    assert page.inner_text("#stat-eta") == "–" and page.inner_text("#status-pill") == "running?"
    page.click("#refresh-runs")
    page.wait_for_selector("#message.error")
    assert "the server is not answering" in page.inner_text("#message")
    assert "Failed to fetch" not in page.inner_text("#message")

    server.call("POST", "/api/training/stop?wait_s=60", timeout=90)
    page.unroute("**/api/**")
    link.down = False
    page.wait_for_selector("#offline", state="hidden")
    page.wait_for_function("document.querySelector('#status-pill').textContent === 'stopped'")
    assert "e2e-offline is no longer training" in page.inner_text("#message")
    page.wait_for_selector("#resume:not([disabled])")


def test_generate_panel_shows_and_downloads_a_png(open_page, server):
    server.train("e2e-gen", steps=20)
    opened = open_page()
    page = opened.open()
    page.click("#tab-generate")
    page.select_option("#generate-run", "e2e-gen")
    page.fill("#generate-seed", "7")
    page.fill("#generate-count", "16")
    page.click("#generate")
    page.wait_for_selector("#generate-img:not([hidden])")
    assert page.get_attribute("#generate-img", "data-seed") == "7"
    with page.expect_download() as info:
        page.click("#generate-download")
    download = info.value
    assert download.suggested_filename.endswith(".png")
    data = open(download.path(), "rb").read()
    image = Image.open(io.BytesIO(data))
    # A 4x4 grid of 28x28 images with 2-pixel padding: 4*28 + 5*2 = 122 pixels a side.
    assert image.format == "PNG" and image.size == (122, 122)
    # The page keeps no copy of the seed's bound: a seed past it goes to the server, whose 422 names the field,
    # and its reason is written beside the box, which is marked. A refused request (then a checkpoint gone
    # meanwhile) is said as an error, and the grid of the request before goes instead of reading as its answer.
    assert page.get_attribute("#generate-seed", "max") is None
    opened.expected_statuses.update({422, 404})
    page.fill("#generate-seed", str(2**64))
    page.click("#generate")
    page.wait_for_selector("#generate-seed.invalid")
    assert page.inner_text("#generate-form label:has(#generate-seed) .field-error") == \
        f"Input should be less than or equal to {2**63 - 1}"
    assert page.inner_text("#generate-info").startswith("seed: ") and page.is_hidden("#generate-img")
    assert page.evaluate("document.activeElement.id") == "generate-seed"
    page.fill("#generate-seed", "8")
    page.route("**/generate.png?*", lambda route: route.fulfill(status=404, json={"detail": "no checkpoint here"}))
    page.click("#generate")
    # The 422's line is an error too: wait for this answer's, not the class it already has.
    page.wait_for_function("document.querySelector('#generate-info').textContent !== '' && "
                           "!document.querySelector('#generate-info').textContent.startsWith('seed: ')")
    assert page.get_attribute("#generate-info", "class") == "hint error"
    assert page.inner_text("#generate-info") == "no checkpoint here"
    assert page.is_hidden("#generate-img") and page.is_hidden("#generate-download")
    page.unroute("**/generate.png?*")
    page.click("#generate")
    page.wait_for_selector("#generate-img:not([hidden])")
    assert page.get_attribute("#generate-info", "class") == "hint"
    assert page.locator("#generate-form .field-error, #generate-form .invalid").count() == 0


def test_model_tab_shows_architecture_and_the_reproducibility_record(open_page, server):
    detail = server.train("e2e-record", steps=10)
    page = open_page().open()
    page.locator("#run-list button.open", has_text="e2e-record").click()
    page.click("#tab-model")
    page.wait_for_function("document.querySelector('#record-source').textContent === 'e2e-record'")
    record = server.call("GET", "/api/runs/e2e-record/record")
    text = page.inner_text("#record")
    assert record["sessions"][0]["dataset"]["fingerprint"] in text
    assert "seed" in text and str(detail["config"]["seed"]) in text
    assert "torch" in text and "POST /api/training/start" in text
    page.wait_for_function("document.querySelectorAll('#arch-table tbody tr').length > 3")
    arch = server.call("GET", "/api/runs/e2e-record/architecture")
    assert number(page.inner_text("#arch-total")) == arch["generator"]["params"]


def test_phone_width_has_no_horizontal_overflow(open_page, server, tmp_path):
    server.train("e2e-a-rather-long-run-name-for-a-phone-screen", steps=10)
    page = open_page(390, 844).open()
    page.wait_for_selector("#run-list li[data-run]")
    for tab in ("training", "compare", "generate", "model"):
        page.click(f"#tab-{tab}")
        page.wait_for_timeout(200)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the {tab} tab is {width} px wide at a 390 px viewport"
    page.click("#tab-training")
    # Every tab fits, the last one whole (nothing to scroll to without a hint); the arrow keys move between them.
    assert page.evaluate("(() => { const t = document.querySelector('.tabs'); return t.scrollWidth <= t.clientWidth; })()")
    last = page.locator("#tab-model").bounding_box()
    assert last["x"] + last["width"] <= 390, last
    page.focus("#tab-training")
    for key, tab in (("ArrowRight", "compare"), ("ArrowRight", "generate"), ("ArrowLeft", "compare"),
                     ("End", "model"), ("ArrowRight", "training")):
        page.keyboard.press(key)
        assert page.evaluate("document.activeElement.id") == f"tab-{tab}", key
        assert page.get_attribute(f"#tab-{tab}", "aria-selected") == "true"
        assert page.is_visible(f"#panel-{tab}")
    save_screenshot(page, tmp_path, "dashboard-phone.png")


def top(page, selector: str) -> float:
    return page.locator(selector).bounding_box()["y"]


def test_a_phone_without_runs_shows_the_start_form_first(browser, tmp_path):
    with serving(tmp_path / "empty-runs") as empty:
        phone = Page(browser, empty, 390, 844)
        try:
            page = phone.open()
            assert top(page, "#new-run") < top(page, "#progress-card")
            assert top(page, "#config-form") < 844  # on the first screen, without scrolling
            start = page.locator("#start").bounding_box()
            assert start["y"] + start["height"] <= 844, start  # and its Start too, at the foot of the window
            assert not phone.errors, phone.errors
        finally:
            phone.context.close()


def test_a_fresh_server_opens_its_past_run_without_an_error(browser, server, tmp_path):
    """What a user meets after a restart (and what the README's screenshot shows): the page opens the latest run by
    itself, once, with its curves and grid, and says nothing about failing to open it. The run is one written
    before the metric vocabulary (loss_D, D_x, ...): its curves draw all the same, labelled from the schema."""
    server.train("e2e-past", steps=4)
    shutil.copytree(server.runs_dir / "e2e-past", tmp_path / "past" / "e2e-past")
    write_metrics_as_before_the_vocabulary(tmp_path / "past" / "e2e-past")
    with serving(tmp_path / "past") as restarted:
        viewer = Page(browser, restarted, 1280, 900)
        try:
            page = viewer.open()
            page.wait_for_function("document.querySelector('#view-name').textContent === 'e2e-past'")
            page.wait_for_selector("#sample-img:not([hidden])")
            page.wait_for_function("Number(document.querySelector('#chart-loss').dataset.points) > 0")
            page.wait_for_function("Number(document.querySelector('#chart-d').dataset.points) > 0")
            labels = ("Chart.getChart(document.querySelector('#chart-d')).data.datasets.filter((d) => !d.raw)"
                      ".map((d) => d.label).join()")
            page.wait_for_function(f"{labels} === 'D(x),D(G(z))'")
            assert "error" not in page.get_attribute("#message", "class"), page.inner_text("#message")
            page.wait_for_function("document.querySelector('#stat-device').textContent === 'cpu'")  # not 'auto'
            assert not viewer.errors, viewer.errors
        finally:
            viewer.context.close()


def test_a_phone_viewing_a_run_shows_the_run_first(open_page, server):
    server.train("e2e-phone-order", steps=4)
    page = open_page(390, 844).open()
    page.wait_for_function("document.querySelector('#view-name').textContent !== ''"
                           " && !document.querySelector('#layout').hasAttribute('data-empty')")
    assert top(page, "#progress-card") < top(page, "#new-run")


CURVES = """((selector) => Chart.getChart(document.querySelector(selector)).data.datasets.map((d) => (
    {label: d.label, raw: Boolean(d.raw), hidden: Boolean(d.hidden), y: d.data.map((p) => p.y)})))"""


def moving_average(values: list[float], weight: float, log: bool = False) -> list[float]:
    """TensorBoard's smoothing, written out: an exponential moving average divided by 1 - weight^n."""
    last, out = 0.0, []
    for n, y in enumerate(values, start=1):
        last = weight * last + (1 - weight) * (math.log(y) if log else y)
        mean = last / (1 - weight ** n)
        out.append(math.exp(mean) if log else mean)
    return out


def assert_close(drawn: list[float], expected: list[float]) -> None:
    assert len(drawn) == len(expected) and all(math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
                                               for a, b in zip(drawn, expected)), (drawn[:5], expected[:5])


def test_curves_are_drawn_smoothed_over_their_logged_values(open_page, server):
    """Each curve is its moving average (debiased, in log space on the ratio's log axis) in bold over its logged
    values in faint; the slider beside the tabs sets the weight for every chart, Side by side included, the page
    remembers it, and 0 draws the values themselves."""
    server.train("e2e-smooth", steps=60)
    logged = server.call("GET", "/api/runs/e2e-smooth/metrics")
    loss_d, ratio = logged["series"]["loss/D"], logged["series"]["loss/ratio"]
    assert len(loss_d) == 30 and None not in loss_d + ratio  # logged every 2 steps
    viewer = open_page()
    page = viewer.open()
    page.locator("#run-list button.open", has_text="e2e-smooth").click()
    page.wait_for_function("document.querySelector('#view-name').textContent === 'e2e-smooth'")
    for chart in ("#chart-loss", "#chart-ratio"):
        page.wait_for_function(f"Chart.getChart(document.querySelector('{chart}')).data.datasets[0].data.length === 30")
    assert page.input_value("#smoothing") == "0.9" and page.inner_text("#smoothing-value") == "0.90"

    curves = {c["label"]: c for c in page.evaluate(CURVES, "#chart-loss")}
    assert set(curves) == {"loss_D", "loss_G", "loss_D (each step)", "loss_G (each step)"}
    assert_close(curves["loss_D"]["y"], moving_average(loss_d, 0.9))
    assert curves["loss_D (each step)"]["y"] == loss_d and not curves["loss_D (each step)"]["hidden"]
    legend = "Chart.getChart(document.querySelector('#chart-loss')).legend.legendItems.map((i) => i.text)"
    assert page.evaluate(legend) == ["loss_D", "loss_G"]  # the faint lines are not in the legend
    ratio_curves = {c["label"]: c for c in page.evaluate(CURVES, "#chart-ratio")}
    assert_close(ratio_curves["loss_G / loss_D"]["y"], moving_average(ratio, 0.9, log=True))

    # 0: the logged values themselves, and no faint copy under them.
    page.locator("#smoothing").evaluate("s => { s.value = '0'; s.dispatchEvent(new Event('input')); }")
    page.wait_for_function("document.querySelector('#smoothing-value').textContent === '0.00'")
    page.wait_for_function(
        "Chart.getChart(document.querySelector('#chart-loss')).data.datasets.some((d) => d.raw && d.hidden)")
    curves = {c["label"]: c for c in page.evaluate(CURVES, "#chart-loss")}
    assert curves["loss_D"]["y"] == loss_d and curves["loss_D (each step)"]["hidden"]

    # Another weight, kept across a reload, and applied to the compared runs' curves too.
    page.locator("#smoothing").evaluate("s => { s.value = '0.5'; s.dispatchEvent(new Event('input')); }")
    page.reload()
    page.wait_for_selector("body[data-ready='1']")
    assert page.input_value("#smoothing") == "0.5" and page.inner_text("#smoothing-value") == "0.50"
    page.locator("#run-list button.open", has_text="e2e-smooth").click()
    page.wait_for_function("Chart.getChart(document.querySelector('#chart-d')).data.datasets[0].data.length === 30")
    curves = {c["label"]: c for c in page.evaluate(CURVES, "#chart-d")}
    assert_close(curves["D(x)"]["y"], moving_average(logged["series"]["D/real"], 0.5))
    page.check("#run-list li[data-run='e2e-smooth'] input[type=checkbox]")
    page.click("#tab-compare")
    page.wait_for_function(
        "Chart.getChart(document.querySelector('#compare-loss')).data.datasets[0]?.data.length === 30")
    compared = {c["label"]: c for c in page.evaluate(CURVES, "#compare-loss")}
    assert_close(compared["e2e-smooth · loss_D"]["y"], moving_average(loss_d, 0.5))
    assert page.is_visible("#smoothing")
    page.click("#tab-generate")  # no curves there: no slider
    assert page.is_hidden("#smoothing")


def test_the_discriminator_chart_says_what_it_draws_for_the_runs_objective(open_page, server, tmp_path):
    """D(x) and D(G(z)) are the mean sigmoid of D's output: a probability only for the cross-entropy objectives
    (GET /api/config/schema: losses). For a WGAN-GP critic the axis says it draws the sigmoid of a score, a note
    names the objective, and the critic's Wasserstein estimate is drawn on its own axis; a non-saturating run's
    chart still reads 'probability "real"'. Side by side says which compared runs' curves are scores."""
    server.train("e2e-critic", steps=6, loss="wgan-gp")
    server.train("e2e-cross-entropy", steps=4)
    w_distance = server.call("GET", "/api/runs/e2e-critic/metrics")["series"]["D/W_distance"]
    assert len(w_distance) == 3 and None not in w_distance  # logged every 2 steps
    page = open_page().open()
    chart = "Chart.getChart(document.querySelector('#chart-d'))"
    title = f"{chart}.options.scales.y.title.text"

    page.locator("#run-list button.open", has_text="e2e-critic").click()
    page.wait_for_function("document.querySelector('#chart-d').dataset.loss === 'wgan-gp'")
    page.wait_for_function(f"{chart}.data.datasets.find((d) => d.label === 'W distance')?.data.length === 3")
    assert page.evaluate(title) == "σ(D score)"
    curves = {c["label"]: c for c in page.evaluate(CURVES, "#chart-d")}
    assert set(curves) == {"D(x)", "D(G(z))", "W distance", "D(x) (each step)", "D(G(z)) (each step)",
                           "W distance (each step)"}
    assert curves["W distance (each step)"]["y"] == w_distance
    # W distance on its own unbounded right axis, the sigmoids on 0..1.
    axes = page.evaluate(f"""(() => {{ const c = {chart}; return {{
        w: c.data.datasets.filter((d) => d.label.startsWith('W distance')).map((d) => d.yAxisID),
        shown: c.scales.w.options.display, title: c.scales.w.options.title.text, side: c.scales.w.options.position,
        min: c.scales.w.options.min ?? null, max: c.scales.w.options.max ?? null, y: [c.scales.y.min, c.scales.y.max]}}; }})()""")
    assert axes == {"w": ["w", "w"], "shown": True, "title": "W distance", "side": "right", "min": None,
                    "max": None, "y": [0, 1]}
    assert page.is_visible("#d-note") and "--loss wgan-gp" in page.inner_text("#d-note")
    assert "W distance" in page.inner_text("#d-hint")
    # The Balance chart draws the non-saturating objective's loss ratio: a critic logs none, and its empty plot
    # says so, naming the run's objective (not "as a run with the non-saturating loss trains").
    balance = "Chart.getChart(document.querySelector('#chart-ratio'))"
    page.wait_for_function(f"{balance}.options.plugins.empty.text.includes('--loss wgan-gp')")
    assert page.evaluate(f"{balance}.options.plugins.empty.text") == \
        "No ratio for --loss wgan-gp: it and these bands are logged for --loss nonsaturating only."
    assert page.get_attribute("#chart-ratio", "data-points") == "0"
    # Wrapped inside the half-width plot (drawn on one line, it ran out of the chart at both ends).
    page.wait_for_function("Number(document.querySelector('#chart-ratio').dataset.emptyLines) > 1")
    save_screenshot(page, tmp_path, "critic.png")

    page.locator("#run-list button.open", has_text="e2e-cross-entropy").click()
    page.wait_for_function("document.querySelector('#chart-d').dataset.loss === 'nonsaturating'")
    assert page.evaluate(title) == 'probability "real"'
    assert {c["label"] for c in page.evaluate(CURVES, "#chart-d")} == {
        "D(x)", "D(G(z))", "D(x) (each step)", "D(G(z)) (each step)"}
    assert page.is_hidden("#d-note") and not page.evaluate(f"{chart}.scales.w.options.display")
    assert page.inner_text("#d-hint") == "D(x) · D(G(z))"
    page.wait_for_function(f"{balance}.options.plugins.empty.text === 'Drawn as the run trains.'")
    # With --feature-matching, G's loss is a feature distance: no ratio either (its options come with its details).
    server.train("e2e-feature-matching", steps=2, feature_matching=True)
    page.locator("#run-list button.open", has_text="e2e-feature-matching").click()
    page.wait_for_function(f"{balance}.options.plugins.empty.text.startsWith('No ratio with --feature-matching')")
    # Its 2 steps logged once: each curve is one point, drawn as a dot (a line needs two).
    page.wait_for_function("document.querySelector('#chart-loss').dataset.points === '1'")
    # (Chart.js resolves a point's options when it draws it: wait for the drawing, not only for the data.)
    page.wait_for_function("Chart.getChart(document.querySelector('#chart-loss')).getDatasetMeta(0).data[0]"
                           "?.options?.radius > 0")

    for name in ("e2e-critic", "e2e-cross-entropy"):
        page.check(f"#run-list li[data-run='{name}'] input[type=checkbox]")
    page.click("#tab-compare")
    page.wait_for_function("document.querySelector('#compare-d').dataset.scored === 'e2e-critic'")
    compared = "Chart.getChart(document.querySelector('#compare-d')).options.scales.y.title.text"
    assert page.evaluate(compared) == 'probability "real" or σ(D score)'
    assert "e2e-critic (--loss wgan-gp)" in page.inner_text("#compare-d-note")
    assert "e2e-cross-entropy" not in page.inner_text("#compare-d-note")


def test_the_sample_slider_scrubs_a_run_with_more_grids_than_it_can_show(open_page, server):
    """A run with 2 501 grids (one per step): the server sends every 4th (GET /api/runs/{name}/samples is
    bounded), the slider scrubs those and the label says how many grids the run has; each position shows its
    grid. Then 1 500 more reach the page as live "sample" messages (the real WebSocket, with the messages the
    server would send added to it): the page thins them by the server's rule, so its steps are those a reload
    would get, every 8th by then, not a list dense at its end."""
    server.train("e2e-many-grids", steps=4)
    samples = server.runs_dir / "e2e-many-grids" / "samples"
    grid = (samples / "step-0000004.png").read_bytes()
    for step in range(1, 2501):
        (samples / f"step-{step:07d}.png").write_bytes(grid)
    opened = open_page()
    sockets = []

    def through(socket):  # the page's /api/live, connected to the server, which a test can also speak on
        socket.connect_to_server()
        sockets.append(socket)

    opened.page.route_web_socket(re.compile(r"/api/live$"), through)
    page = opened.open()
    page.locator("#run-list button.open", has_text="e2e-many-grids").click()
    page.wait_for_function("document.querySelector('#sample-slider').max === '625'")  # 626 steps: 0, 4, ..., 2500
    page.wait_for_function("document.querySelector('#sample-img').dataset.step === '2500'")
    assert page.inner_text("#sample-label") == "step 2,500 · 626 of 626 shown (2,501 grids)"
    page.locator("#sample-slider").evaluate("s => { s.value = '1'; s.dispatchEvent(new Event('input')); }")
    page.wait_for_function("document.querySelector('#sample-img').dataset.step === '4'")
    assert page.inner_text("#sample-label") == "step 4 · 2 of 626 shown (2,501 grids)"
    assert not page.is_checked("#sample-follow")

    for step in range(2501, 4001):
        (samples / f"step-{step:07d}.png").write_bytes(grid)
        sockets[-1].send(SampleMessage(run="e2e-many-grids", step=step,
                                       url=f"/api/runs/e2e-many-grids/samples/{step}.png").model_dump_json())
    page.wait_for_function("document.querySelector('#sample-label').textContent.endsWith('(4,001 grids)')")
    answer = server.call("GET", "/api/runs/e2e-many-grids/samples")
    assert (answer["count"], answer["every"]) == (4001, 8)  # the stride doubled at the 3 997th grid
    shown = page.evaluate("import('/static/state.js').then(({ state }) => state.samples.steps)")
    assert shown == answer["steps"]  # 0, 8, ..., 4000: the page and a reload agree
    assert page.get_attribute("#sample-slider", "max") == str(len(answer["steps"]) - 1)
    assert page.inner_text("#sample-label") == "step 0 · 1 of 501 shown (4,001 grids)"  # step 4 went: nearest earlier
