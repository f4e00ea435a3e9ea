"""Issue 20 in the browser: real images beside the fixed-noise samples and the G/D balance over the health
monitor's bands (Training tab); style mixing grids per block and a slide along a class's attribute direction
(Generate tab)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from .conftest import TINY


def natural_size(page, selector: str) -> list[int]:
    return page.evaluate(f"(() => {{ const i = document.querySelector('{selector}'); "
                         f"return [i.naturalWidth, i.naturalHeight]; }})()")


def test_real_images_sit_beside_the_samples_and_the_balance_has_its_bands(open_page, server):
    server.train("e2e-real", steps=20)
    page = open_page().open()
    page.locator("#run-list button.open", has_text="e2e-real").click()
    page.wait_for_function("document.querySelector('#real-img').naturalWidth > 0 && "
                           "document.querySelector('#sample-img').naturalWidth > 0")
    assert natural_size(page, "#real-img") == natural_size(page, "#sample-img")  # the same size
    assert page.is_visible("#real-img") and page.is_visible("#sample-img")
    logged = 20 // TINY["log_every"]
    page.wait_for_function(f"Number(document.querySelector('#chart-ratio').dataset.points) === {logged}")
    assert page.get_attribute("#chart-ratio", "data-bands") == "3"
    assert page.evaluate("Chart.getChart(document.querySelector('#chart-ratio')).options.scales.y.type") \
        == "logarithmic"
    bands = page.locator("#ratio-bands li").all_inner_texts()
    assert bands[0].startswith("G ahead: 0–0.5") and bands[2].startswith("D overpowers")


def test_style_mixing_draws_one_grid_per_block(open_page, server):
    server.train("e2e-mix", steps=20)
    page = open_page().open()
    page.click("#tab-generate")
    page.select_option("#generate-run", "e2e-mix")
    page.wait_for_function("document.querySelectorAll('#mix-block option').length === 4")  # all + 3 blocks
    assert page.locator("#mix-block option").all_inner_texts()[1:] == [
        "0 · 16 maps of 7x7", "1 · 8 maps of 14x14", "2 · the output (28x28)"]
    page.fill("#mix-rows", "0, 1, 2")
    page.fill("#mix-cols", "3,4")
    with page.expect_response(lambda r: "/mix.png" in r.url and "block=2" in r.url) as last:
        page.click("#mix-go")
    query = parse_qs(urlparse(last.value.url).query)
    assert query["rows"] == ["0", "1", "2"] and query["cols"] == ["3", "4"]
    page.wait_for_function("document.querySelectorAll('#mix-grids img').length === 3 && "
                           "[...document.querySelectorAll('#mix-grids img')].every((i) => i.naturalWidth > 0)")
    width, height = natural_size(page, "#mix-grids img")
    assert width < height  # 2 columns + A's column, 3 rows + B's row
    page.select_option("#mix-block", "1")
    page.click("#mix-go")
    page.wait_for_function("document.querySelectorAll('#mix-grids img').length === 1")
    assert page.inner_text("#mix-grids figcaption") == "from block 1 · 8 maps of 14x14"


def test_an_attribute_slide_shows_a_strip_and_the_class_probabilities(open_page, server):
    server.train("e2e-attr", steps=20)
    page = open_page().open()
    page.click("#tab-generate")
    page.select_option("#generate-run", "e2e-attr")
    page.wait_for_function("document.querySelectorAll('#attr-class option').length === 10")
    page.select_option("#attr-class", "7")
    page.fill("#attr-seeds", "0,1")
    page.fill("#attr-steps", "5")
    with page.expect_response(lambda r: "/attribute.png" in r.url) as answer:
        page.click("#attr-go")
    query = parse_qs(urlparse(answer.value.url).query)
    assert query["toward"] == ["7"] and query["seeds"] == ["0", "1"] and query["steps"] == ["5"]
    page.wait_for_function("document.querySelector('#attr-strip').naturalWidth > 0")
    width, height = natural_size(page, "#attr-strip")
    assert width > 2 * height  # five images a row, two rows
    page.wait_for_function("document.querySelector('#attr-info').textContent.includes('p(Sneaker)')")
    assert page.get_attribute("#attr-download", "download").endswith(".png")


def test_without_a_domain_classifier_the_slide_is_off_and_says_which_datasets_have_one(open_page, server):
    """Which datasets have a classifier is the server's to say (GET /api/system/datasets): served with none for
    Fashion-MNIST, the page names the ones that have one."""
    server.train("e2e-attr-none", steps=4)
    opened = open_page()
    datasets = server.call("GET", "/api/system/datasets")
    for dataset in datasets["datasets"]:
        dataset["classifier"] = dataset["classifier"] and dataset["name"] != "fashion-mnist"
    opened.page.route("**/api/system/datasets*", lambda route: route.fulfill(json=datasets))
    page = opened.open()
    page.click("#tab-generate")
    page.select_option("#generate-run", "e2e-attr-none")
    page.wait_for_function("document.querySelector('#attr-info').textContent.startsWith('No domain classifier')")
    assert page.inner_text("#attr-info") == ("No domain classifier is installed for fashion-mnist: attribute "
                                             "directions need one (installed: mnist).")
    assert page.is_disabled("#attr-go")
