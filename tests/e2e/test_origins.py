"""A page from another origin in a real browser (`dcgan serve --allow-origin`): a tiny page served by a second local
web server, as seed 000's React page is by its dev server, calls the dashboard's API and opens seed 000's /ws.
Chromium lets it read the answers only from a server that lets its origin in."""

from __future__ import annotations

import functools
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dcgan.server import create_app
from dcgan.server.security import loopback_hosts

from server.conftest import serving  # the API tests' in-process uvicorn: no second dcgan process to start

# What the page does: a simple GET, a JSON POST (the browser sends a preflight first) and the WebSocket.
CALLS = """async base => {
  const call = async (path, options) => {
    try { const r = await fetch(base + path, options); return [r.status, await r.json()]; }
    catch (e) { return [0, e.name]; }  // the browser kept the answer from the page
  };
  const feed = await new Promise(done => {
    const ws = new WebSocket(base.replace("http", "ws") + "/ws");
    ws.onmessage = m => { done(JSON.parse(m.data).type); ws.close(); };
    ws.onerror = () => done("refused");
  });
  return {status: await call("/status"), stop: await call("/stop_training", {method: "POST",
          headers: {"Content-Type": "application/json"}, body: "{}"}), feed};
}"""


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A page's own web server on another port: another origin."""
    folder = tmp_path_factory.mktemp("site")
    (folder / "index.html").write_text("<!doctype html><title>another origin</title>")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("let_in", [True, False])
def test_a_page_of_another_origin_uses_the_server_only_when_let_in(browser, site, tmp_path, let_in):
    runs = tmp_path / "runs"
    app = create_app(runs, allowed_hosts=loopback_hosts(), allowed_origins=[site] if let_in else [])
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(site + "/index.html")
        with serving(app, runs) as dashboard:
            answers = page.evaluate(CALLS, dashboard.url)
    finally:
        context.close()
    if let_in:
        assert answers["status"][0] == 200 and answers["status"][1]["is_training"] is False
        assert answers["stop"][0] == 409 and answers["stop"][1]["detail"]  # read by the page: nothing to stop
        assert answers["feed"] == "connected"
    else:
        assert answers == {"status": [0, "TypeError"], "stop": [0, "TypeError"], "feed": "refused"}
