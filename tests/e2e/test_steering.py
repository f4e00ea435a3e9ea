"""Steering a run from the page (issue 9): pause in place, single steps, a live learning-rate change marked on the
charts, a fork from a checkpoint, and runs side by side."""

from __future__ import annotations

from .conftest import TINY, number


def pill(page) -> str:
    return page.inner_text("#status-pill")


def test_pause_step_once_and_change_d_learning_rate_with_a_marker(open_page, server):
    server.idle()
    server.start({"name": "e2e-steer", "config": {**TINY, "steps": 100000}})
    opened = open_page()
    opened.expected_statuses.add(422)
    page = opened.open()
    page.wait_for_function("document.querySelector('#status-pill').textContent === 'running'")
    page.wait_for_function("Number(document.querySelector('#chart-loss').dataset.points) >= 5")

    # Pause: the worker holds in place and the step counter stays.
    page.click("#pause")
    page.wait_for_function("document.querySelector('#status-pill').textContent === 'paused'")
    page.wait_for_selector("#step-row:not([hidden])")
    assert page.inner_text("#pause") == "Continue"
    held = int(page.get_attribute("#stat-step", "data-step"))
    page.wait_for_timeout(1000)
    assert int(page.get_attribute("#stat-step", "data-step")) == held == server.status()["step"]
    page.wait_for_selector("#sample-img:not([hidden])")
    grid_before = page.get_attribute("#sample-img", "src")
    points_before = int(page.get_attribute("#chart-loss", "data-points"))

    # One G step: the counter moves by one, a point is logged and the fixed-noise grid is redrawn at that step.
    page.click("#step-g")
    page.wait_for_function(f"Number(document.querySelector('#stat-step').dataset.step) === {held + 1}")
    page.wait_for_function(f"Number(document.querySelector('#sample-img').dataset.step) === {held + 1}")
    assert page.get_attribute("#sample-img", "src") != grid_before
    page.wait_for_function(f"Number(document.querySelector('#chart-loss').dataset.lastStep) === {held + 1}")
    assert int(page.get_attribute("#chart-loss", "data-points")) == points_before + 1
    assert f"step {held + 1:,}" in page.inner_text("#step-result")
    page.wait_for_timeout(500)
    assert server.status()["step"] == held + 1 and pill(page) == "paused"
    assert page.inner_text("#live-run") == f"e2e-steer — paused at step {held + 1:,}"  # as the card, not as paused

    # Raise D's learning rate: the change is recorded and marked on both charts at the step it was made.
    page.fill("#live-lr_d", "0.0008")
    page.click("#hparam-apply")
    page.wait_for_selector("#marks li[data-field='lr_d']")
    assert page.get_attribute("#marks li[data-field='lr_d']", "data-step") == str(held + 1)
    assert page.get_attribute("#chart-loss", "data-marks") == "1"
    assert page.get_attribute("#chart-d", "data-marks") == "1"
    assert "lr_d" in page.inner_text("#changes") and "0.0008" in page.inner_text("#changes")
    assert page.inner_text("#message").startswith("changed lr_d = 0.0008")
    # A refused change says so, and the earlier change's "changed ..." goes from beside it.
    page.fill("#live-lr_d", "-1")
    page.click("#hparam-apply")
    page.wait_for_selector("#live-lr_d.invalid")
    assert page.inner_text("#hparam-error") and "changed" not in page.inner_text("#message")
    page.fill("#live-lr_d", "0.0008")
    hparams = server.call("GET", "/api/training/hyperparameters")
    assert hparams["values"]["lr_d"] == 0.0008
    # The marker is drawn where the chart puts that step: orange pixels at the marker's x.
    x = page.evaluate(f"""(() => {{
        const chart = Chart.getChart(document.querySelector('#chart-loss'));
        return Math.round(chart.scales.x.getPixelForValue({held + 1}) * devicePixelRatio);
    }})()""")
    orange = page.evaluate(f"""(() => {{
        const canvas = document.querySelector('#chart-loss');
        const chart = Chart.getChart(canvas);
        const top = Math.round((chart.chartArea.top + 20) * devicePixelRatio);
        const bottom = Math.round((chart.chartArea.bottom - 2) * devicePixelRatio);
        const ctx = canvas.getContext('2d');
        let hits = 0;
        for (let y = top; y < bottom; y += 2) {{
          for (let dx = -1; dx <= 1; dx++) {{
            const [r, g, b] = ctx.getImageData({x} + dx, y, 1, 1).data;
            if (r > 150 && g > 50 && g < 110 && b < 40) {{ hits++; break; }}
          }}
        }}
        return hits;
    }})()""")
    assert orange > 10, "no marker line drawn at the change's step"

    # Continue: training goes on from where it held.
    page.click("#pause")
    page.wait_for_function("document.querySelector('#status-pill').textContent === 'running'")
    page.wait_for_function(f"Number(document.querySelector('#stat-step').dataset.step) > {held + 5}")

    # Fork it where it is now: the dialog stops the run (a checkpoint of that step) and starts the fork from it,
    # with the live change inherited.
    page.click("#fork")
    page.wait_for_selector("#fork-dialog[open]")
    assert page.input_value("#fork-checkpoint") == "__now__"
    assert page.input_value("#fork-lr_d") == "0.0008"
    page.fill("#fork-name", "e2e-steer-fork")
    page.click("#fork-start")
    page.wait_for_function("document.querySelector('#view-name').textContent === 'e2e-steer-fork'")
    parent = server.call("GET", "/api/runs/e2e-steer")
    assert parent["summary"]["status"] == "stopped"
    child = server.call("GET", "/api/runs/e2e-steer-fork")
    assert child["summary"]["parent"]["step"] == parent["summary"]["step"] > held + 5
    assert child["config"]["lr_d"] == 0.0008


def test_fork_shows_the_family_tree_and_side_by_side_compares_two_runs(open_page, server):
    parent = server.train("e2e-parent", steps=83)  # not a round number: the axis ends there
    assert len([c for c in parent["checkpoints"] if c["step"] is not None]) >= 2
    page = open_page().open()
    page.locator("#run-list button.open", has_text="e2e-parent").click()
    page.wait_for_function("document.querySelector('#view-name').textContent === 'e2e-parent'")

    # Fork from the step-50 checkpoint with D's learning rate doubled.
    page.click("#fork")
    page.wait_for_selector("#fork-dialog[open]")
    page.select_option("#fork-checkpoint", "step-0000050.pt")
    assert page.input_value("#fork-lr_d") in ("0.0002", "")
    assert page.locator("#fork-g_width").count() == 0  # the networks stay the parent's
    page.fill("#fork-lr_d", "0.0004")
    page.fill("#fork-name", "e2e-child")
    page.click("#fork-start")
    page.wait_for_function("document.querySelector('#view-name').textContent === 'e2e-child'")
    page.wait_for_function("document.querySelector('#view-parent').textContent.startsWith('forked from e2e-parent')")
    assert "step 50" in page.inner_text("#view-parent")
    server.wait(lambda: server.status()["state"] == "finished", timeout=60, what="the fork to finish")
    child = server.call("GET", "/api/runs/e2e-child")
    assert child["summary"]["parent"]["step"] == 50 and child["config"]["lr_d"] == 0.0004
    # Its charts' step axis starts where it forked (not at 0, its curves squeezed to the right), and is labelled
    # at evenly spaced round steps: no label at its first or last step printed over the round one beside it.
    last = server.call("GET", "/api/runs/e2e-child/metrics")["step"][-1]
    assert last % 5
    page.wait_for_function(f"document.querySelector('#chart-loss').dataset.lastStep === '{last}'")
    axis = page.evaluate("""(() => { const x = Chart.getChart(document.querySelector('#chart-loss')).scales.x;
        return { min: x.min, max: x.max, ticks: x.ticks.map((t) => t.value) }; })()""")
    assert (axis["min"], axis["max"]) == (50, last), axis
    gaps = {b - a for a, b in zip(axis["ticks"], axis["ticks"][1:])}
    assert len(axis["ticks"]) >= 3 and len(gaps) == 1, axis

    # The run list draws the family: the child sits right under its parent, indented.
    page.click("#refresh-runs")
    page.wait_for_selector("#run-list li[data-run='e2e-child'][data-parent='e2e-parent']")
    order = page.locator("#run-list li[data-run]").evaluate_all("ls => ls.map(l => l.dataset.run)")
    assert order.index("e2e-child") == order.index("e2e-parent") + 1
    assert page.get_attribute("#run-list li[data-run='e2e-child']", "data-depth") == "1"

    # Side by side: both runs' curves overlaid by step, and their grids at a matched step.
    page.check("#run-list li[data-run='e2e-parent'] input[type=checkbox]")
    page.check("#run-list li[data-run='e2e-child'] input[type=checkbox]")
    page.click("#tab-compare")
    assert page.inner_text("#compare-count") == "2"
    page.wait_for_function("document.querySelector('#compare-loss').dataset.runs === '2'")
    page.wait_for_function("document.querySelectorAll('#compare-grids figure img').length === 2")
    labels = page.evaluate("Chart.getChart(document.querySelector('#compare-loss')).data.datasets.map(d => d.label)")
    assert {label.split(" · ")[0] for label in labels} == {"e2e-parent", "e2e-child"}
    assert {label.split(" · ")[1] for label in labels} == {"loss_D", "loss_G"}  # the server's labels of loss/D, loss/G
    lengths = page.evaluate("Chart.getChart(document.querySelector('#compare-loss')).data.datasets.map(d => d.data.length)")
    assert all(n > 5 for n in lengths)
    # The child's curve starts where it forked, on the same step axis as its parent's.
    child_first = page.evaluate("""Chart.getChart(document.querySelector('#compare-loss')).data.datasets
        .find(d => d.label.startsWith('e2e-child')).data[0].x""")
    assert child_first > 50
    # Grids at the slider's step: the same step for both runs (both have a grid there).
    steps = page.locator("#compare-grids img").evaluate_all("is => is.map(i => i.dataset.step)")
    assert len(set(steps)) == 1
    page.locator("#compare-slider").evaluate("s => { s.value = '0'; s.dispatchEvent(new Event('input')); }")
    page.wait_for_function("document.querySelector('#compare-grids img[data-run=\"e2e-parent\"]').dataset.step === '0'")
    assert number(page.inner_text("#compare-step")) == 0
    # The child has no grid before its fork step: it shows its nearest one, and says so.
    assert "nearest" in page.inner_text("#compare-grids figure[data-run='e2e-child']")
