"""`aiperf plot` and the HTML report: PNG files, one self-contained HTML file, and that file rendered by headless
Chromium (Debian `chromium`, driven over the DevTools protocol): screenshot taken, every plot and gallery image
decoded, no console errors. The checker itself is shown to fail on a broken image and on a console error."""
from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from aiperf.analysis.html_report import write_report
from aiperf.cli import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# ---------------------------------------------------------------------------------------------- files

def test_report_of_one_run_writes_pngs_and_a_self_contained_html(streaming_run, tmp_path):
    files = write_report([streaming_run], tmp_path / "out")
    assert [p.name for p in files.pngs] == ["latency_cdf.png", "ttft_itl_distributions.png",
                                            "throughput_over_time.png", "concurrency_over_time.png"]
    assert all(p.read_bytes().startswith(PNG_SIGNATURE) for p in files.pngs)
    html = files.html.read_text()
    sources = re.findall(r'<img[^>]*src="([^"]+)"', html)
    assert len(sources) == 4 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert not re.search(r'(src|href)="(?!data:)', html)  # nothing outside the file
    assert "Time to First Token" in html and "chat-streaming" in html and "<h2>Summary</h2>" in html
    assert "Gallery" not in html  # a text run has no images


def test_report_of_several_runs_compares_them_and_says_what_was_not_drawn(streaming_run, plain_run,
                                                                          image_edit_run, tmp_path):
    files = write_report([streaming_run, plain_run, image_edit_run], tmp_path / "out")
    names = [p.stem for p in files.pngs]
    assert "latency_vs_throughput" in names and "image_latency_by_size" in names
    html = files.html.read_text()
    assert "chat-plain change %" in html and "image-edit change %" in html
    assert files.skipped == {}  # TTFT of the streaming run is drawn; the others are left out of that plot
    assert '<div id="gallery">' in html and html.count("<figure>") == 6


def test_report_of_a_non_streaming_run_notes_the_missing_plot(plain_run, tmp_path):
    files = write_report([plain_run], tmp_path / "out")
    assert "ttft_itl_distributions" in files.skipped
    assert "Not drawn: chat-plain: no Time to First Token values" in files.html.read_text()


def test_aiperf_plot_command(streaming_run, plain_run, tmp_path, capsys):
    assert main(["plot", str(streaming_run.artifact_dir), "--out", str(tmp_path / "one")]) == 0
    out = capsys.readouterr().out
    assert f"Report: {tmp_path / 'one' / 'report.html'}" in out and "Plot: " in out
    sweep = tmp_path / "sweep"
    for run in (streaming_run, plain_run):
        shutil.copytree(run.artifact_dir, sweep / run.label)
    assert main(["plot", str(sweep), "-o", str(tmp_path / "several")]) == 0
    assert (tmp_path / "several" / "latency_vs_throughput.png").is_file()
    assert "ttft_itl_distributions" not in capsys.readouterr().err  # drawn for the streaming run


def test_aiperf_plot_defaults_to_a_plots_folder_inside_the_run(streaming_run, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(streaming_run.artifact_dir, run_dir)
    assert main(["plot", str(run_dir)]) == 0
    assert (run_dir / "plots" / "report.html").is_file()


def test_aiperf_plot_of_a_folder_that_is_not_a_run_names_the_missing_file(tmp_path, capsys):
    assert main(["plot", str(tmp_path)]) == 2
    assert "profile_export_aiperf.json is missing" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------- Chromium

def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    pytest.fail("headless Chromium not found: `make test` installs Debian's chromium (APT_PACKAGES)")


class Browser:
    """One headless Chromium process and a DevTools connection to its page."""

    def __init__(self, profile_dir: Path) -> None:
        import websocket

        self.process = subprocess.Popen(
            [_chromium(), "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions", "--mute-audio",
             f"--user-data-dir={profile_dir}", "--remote-debugging-port=0", "--remote-allow-origins=*",
             "--window-size=1280,1600", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            # `make test-asan` preloads the sanitizer runtime into Python; the browser must not inherit it
            env={k: v for k, v in os.environ.items() if k != "LD_PRELOAD"})
        port_file = profile_dir / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (port_file.is_file() and port_file.read_text().strip()):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.close()
                pytest.fail(f"chromium did not start (exit code {self.process.returncode})")
            time.sleep(0.05)
        port = int(port_file.read_text().splitlines()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            page = next(t for t in json.load(reply) if t["type"] == "page")
        self.socket = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.events: list[dict] = []
        self._next_id = 0

    def send(self, method: str, **params) -> dict:
        self._next_id += 1
        self.socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            self.events.append(message)

    def wait_for(self, event: str) -> None:
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads(self.socket.recv()))

    def close(self) -> None:
        if getattr(self, "socket", None) is not None:
            self.socket.close()
        self.process.kill()
        self.process.wait(timeout=30)


def render(html_file: Path, screenshot: Path, profile_dir: Path) -> dict:
    """Open a file in headless Chromium; returns its images (decoded or not) and console errors."""
    browser = Browser(profile_dir)
    try:
        for domain in ("Page", "Runtime", "Log"):
            browser.send(f"{domain}.enable")
        browser.send("Page.navigate", url=html_file.resolve().as_uri())
        browser.wait_for("Page.loadEventFired")  # after every image has loaded or failed
        images = json.loads(browser.send("Runtime.evaluate", returnByValue=True, expression="""
            JSON.stringify(Array.from(document.images).map(image => ({
                alt: image.alt, complete: image.complete, width: image.naturalWidth, height: image.naturalHeight,
                where: image.closest('#gallery') ? 'gallery' : image.closest('.plot') ? 'plot' : 'other'})))
        """)["result"]["value"])
        shot = browser.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
        time.sleep(0.2)
        browser.socket.settimeout(0.5)
        try:  # late console messages
            while True:
                browser.events.append(json.loads(browser.socket.recv()))
        except Exception:
            pass
    finally:
        browser.close()
    errors = []
    for event in browser.events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            errors.append(" ".join(str(a.get("value", a.get("description"))) for a in params.get("args", [])))
        elif method == "Runtime.exceptionThrown":
            errors.append(params["exceptionDetails"].get("text", "exception"))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            errors.append(params["entry"].get("text", ""))
    return {"images": images, "errors": errors}


def _check_rendered(result: dict, screenshot: Path) -> list[str]:
    """Problems seen in a rendering: images not decoded, console errors, a blank screenshot."""
    from matplotlib.image import imread

    problems = [f"image not loaded: {i['alt']!r} ({i['where']})" for i in result["images"]
                if not (i["complete"] and i["width"] > 0 and i["height"] > 0)]
    problems += [f"console error: {e}" for e in result["errors"]]
    pixels = imread(screenshot)
    if pixels.shape[0] < 500 or pixels.std() < 0.01:
        problems.append(f"screenshot {pixels.shape} looks blank")
    return problems


@pytest.fixture(scope="module")
def rendered_report(streaming_run, image_edit_run, tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    files = write_report([streaming_run, image_edit_run], folder / "report")
    screenshot = folder / "screenshot.png"
    return files, render(files.html, screenshot, folder / "profile"), screenshot


def test_report_renders_in_headless_chromium_with_plots_and_gallery(rendered_report):
    files, result, screenshot = rendered_report
    assert _check_rendered(result, screenshot) == []
    plots = [i for i in result["images"] if i["where"] == "plot"]
    gallery = [i for i in result["images"] if i["where"] == "gallery"]
    assert len(plots) == len(files.pngs) >= 5
    assert len(gallery) == 6 and {(i["width"], i["height"]) for i in gallery} == {(32, 24), (64, 48)}
    assert screenshot.read_bytes().startswith(PNG_SIGNATURE)


def test_the_browser_check_fails_on_a_broken_image_and_on_a_console_error(rendered_report, tmp_path):
    files, _, _ = rendered_report
    html = files.html.read_text()
    start = html.index("data:image/png;base64,") + len("data:image/png;base64,")
    broken = html[:start + 100] + "A" * 400 + html[start + 500:]  # corrupt the first plot's PNG data
    broken = broken.replace("</body>", "<script>console.error('report script failed')</script></body>")
    broken_file = tmp_path / "broken.html"
    broken_file.write_text(broken)
    screenshot = tmp_path / "broken.png"
    problems = _check_rendered(render(broken_file, screenshot, tmp_path / "profile"), screenshot)
    assert any(p.startswith("image not loaded: 'Request latency CDF'") for p in problems), problems
    assert "console error: report script failed" in problems
