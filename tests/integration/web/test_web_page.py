"""The detector's web page in a real headless Chromium against the real server and TensorFlow."""

from __future__ import annotations

import base64
import io
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Page, expect

from tests.support.images import encode, picture
from tests.support.server_process import TEST_MODEL_NAME, ServerProcess

from .conftest import ARTIFACTS

pytestmark = pytest.mark.slow

ROWS = "#detections tbody tr[data-index]"
DETECT = f"/v1/models/{TEST_MODEL_NAME}:detect"


def scene_png() -> bytes:
    return encode(picture(640, 427, seed=3), "PNG")


def api_detections(server: ServerProcess, body: bytes, content_type: str = "image/png") -> list[dict]:
    r = httpx.post(server.url + DETECT, params={"threshold": 0}, content=body,
                   headers={"Content-Type": content_type}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()["detections"]


def table_rows(page: Page) -> list[list[str]]:
    return page.eval_on_selector_all(ROWS, "rows => rows.map(r => [...r.cells].map(c => c.textContent))")


def set_threshold(page: Page, value: float) -> None:
    page.locator("#threshold").fill(str(value))
    expect(page.locator("#threshold-value")).to_have_text(f"{value:.2f}")


def upload(page: Page, name: str, mime: str, data: bytes) -> None:
    page.set_input_files("#file", files=[{"name": name, "mimeType": mime, "buffer": data}])


def assert_rows_match(rows: list[list[str]], expected: list[dict]) -> None:
    """Same detections, same order (best first); numbers as the page rounds them."""
    assert len(rows) == len(expected)
    for n, (row, det) in enumerate(zip(rows, expected, strict=True), start=1):
        number, label, score, *box = row
        assert (int(number), label.strip()) == (n, det["label"])
        assert float(score) == pytest.approx(det["score"], abs=0.0006)
        want = [det["box"][k] for k in ("xmin", "ymin", "xmax", "ymax")]
        assert [float(v) for v in box] == pytest.approx(want, abs=0.051)


def overlay_pixels(page: Page) -> int:
    """How many pixels of the box overlay are painted."""
    return page.evaluate("""() => {
        const c = document.getElementById('overlay');
        const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0;
        for (let i = 3; i < data.length; i += 4) if (data[i]) n++;
        return n;
    }""")


def test_page_shows_model_name_and_readiness(page: Page, web_server: ServerProcess):
    expect(page.locator("#model-name")).to_have_text(TEST_MODEL_NAME)
    expect(page).to_have_title(f"{TEST_MODEL_NAME} · object detector")
    expect(page.locator("#health")).to_have_attribute("data-state", "ready")
    expect(page.locator("#health-text")).to_have_text("Ready")


def test_threshold_slider_starts_at_the_servers_score_threshold(page: Page, web_server: ServerProcess):
    # The server runs with the default --score-threshold 0.3; the page's own fallback is 0.5.
    expect(page.locator("#threshold")).to_have_value("0.3")
    expect(page.locator("#threshold-value")).to_have_text("0.30")


def test_uploaded_png_shows_the_detect_apis_detections_as_rows_and_boxes(page: Page, web_server: ServerProcess):
    png = scene_png()
    expected = api_detections(web_server, png)
    assert any(d["score"] >= 0.5 for d in expected), "the tiny model should find something in this picture"

    set_threshold(page, 0)
    upload(page, "scene.png", "image/png", png)
    expect(page.locator(ROWS)).to_have_count(len(expected), timeout=30_000)
    assert_rows_match(table_rows(page), expected)
    expect(page.locator("#summary")).to_contain_text(f"{len(expected)} objects shown · 640×427 px")
    assert overlay_pixels(page) > 0, "no boxes drawn on the overlay"
    expect(page.locator("#error")).to_be_hidden()

    set_threshold(page, 0.5)
    confident = [d for d in expected if d["score"] >= 0.5]
    expect(page.locator(ROWS)).to_have_count(len(confident))
    assert_rows_match(table_rows(page), confident)
    page.locator("#threshold").blur()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-page.png"), full_page=True)


def test_threshold_slider_hides_detections_below_it_and_redraws(page: Page, web_server: ServerProcess):
    png = scene_png()
    expected = api_detections(web_server, png)
    upload(page, "scene.png", "image/png", png)
    expect(page.locator(ROWS).first).to_be_visible(timeout=30_000)

    top = expected[0]["score"]
    set_threshold(page, 0)
    everything = overlay_pixels(page)
    set_threshold(page, round(top, 2) + 0.01 if round(top, 2) + 0.01 <= 1 else 1.0)
    expect(page.locator(ROWS)).to_have_count(0)
    expect(page.locator("#detections tbody")).to_contain_text("No detections at or above this score")
    expect(page.locator("#summary")).to_contain_text(f"0 objects shown ({len(expected)} below")
    assert overlay_pixels(page) < everything
    assert overlay_pixels(page) == 0


def test_server_error_replaces_the_result_and_a_good_image_clears_it(page: Page, web_server: ServerProcess):
    broken = b"\x89PNG\r\n\x1a\nthis is not really a PNG"
    r = httpx.post(web_server.url + DETECT, content=broken, headers={"Content-Type": "image/png"}, timeout=30)
    assert r.status_code == 400
    message = r.json()["error"]
    png = scene_png()
    upload(page, "scene.png", "image/png", png)
    expect(page.locator(ROWS).first).to_be_visible(timeout=30_000)

    upload(page, "broken.png", "image/png", broken)
    error = page.locator("#error")
    expect(error).to_be_visible()
    expect(error).to_have_text(f"{message} (HTTP 400)")
    expect(error).to_have_attribute("role", "alert")
    expect(page.locator("#result")).to_be_hidden()  # the previous picture's boxes are not this file's

    upload(page, "scene.png", "image/png", png)
    expect(page.locator(ROWS).first).to_be_visible(timeout=30_000)
    expect(error).to_be_hidden()


def test_dropped_image_is_detected(page: Page, web_server: ServerProcess):
    png = scene_png()
    expected = api_detections(web_server, png)
    set_threshold(page, 0)
    # Playwright cannot drag files from the OS; build the drop event the browser would send.
    page.evaluate("""(b64) => {
        const bytes = Uint8Array.from(atob(b64), ch => ch.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], 'dropped.png', { type: 'image/png' }));
        const drop = new DragEvent('drop', { dataTransfer: dt, bubbles: true, cancelable: true });
        document.getElementById('drop').dispatchEvent(drop);
    }""", base64.b64encode(png).decode())
    expect(page.locator(ROWS)).to_have_count(len(expected), timeout=30_000)
    assert_rows_match(table_rows(page), expected)


def test_bmp_is_converted_to_png_in_the_browser_and_detected(page: Page, web_server: ServerProcess):
    pixels = picture(320, 240, seed=5)
    bmp = io.BytesIO()
    Image.fromarray(pixels).save(bmp, format="BMP")
    expected = api_detections(web_server, encode(pixels, "PNG"))  # same pixels, as the page sends them
    set_threshold(page, 0)
    upload(page, "scene.bmp", "image/bmp", bmp.getvalue())
    expect(page.locator(ROWS)).to_have_count(len(expected), timeout=30_000)
    assert_rows_match(table_rows(page), expected)


def test_page_says_not_ready_while_the_model_is_still_downloading(browser, tmp_path):
    """A model server on loopback that never finishes sending: the server stays live but not ready."""
    release = threading.Event()

    class Stalling(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "1000000")
            self.end_headers()
            release.wait(60)

        def log_message(self, *args):
            pass

    origin = ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
    threading.Thread(target=origin.serve_forever, daemon=True).start()
    uri = f"http://127.0.0.1:{origin.server_port}/tiny_ssd.tar.gz"
    server = ServerProcess(uri, "--model-name", TEST_MODEL_NAME, log_dir=tmp_path)
    context = browser.new_context()
    try:
        server.wait_status("/v2/health/live", 200, timeout=60)
        page = context.new_page()
        page.goto(server.url + "/")
        expect(page.locator("#health")).to_have_attribute("data-state", "waiting")
        expect(page.locator("#health-text")).to_have_text("Not ready yet (HTTP 503)")
    finally:
        context.close()
        release.set()
        server.stop()
        origin.shutdown()
        origin.server_close()


def test_the_pages_content_security_policy_blocks_an_injected_inline_script(browser, web_server: ServerProcess):
    """Were a model name or a label ever to slip markup into the page, its script would not run:
    the CSP allows the page's own files only (the page itself works under it: every test here
    fails on a CSP report)."""
    context = browser.new_context()
    try:
        page = context.new_page()
        reports: list[str] = []
        page.on("console", lambda message: reports.append(message.text))
        page.goto(web_server.url + "/")
        ran = page.evaluate("""() => { const s = document.createElement('script');
            s.textContent = 'window.injected = true'; document.head.appendChild(s);
            return window.injected === true; }""")
        assert ran is False
        assert any("Content Security Policy" in text for text in reports), reports
    finally:
        context.close()
