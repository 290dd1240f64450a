"""A rendered report loads in headless Chromium without errors and with every image."""

import json
import re
import shutil
import subprocess

import pytest
from data.results_factory import report_from_tables, write_results

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--virtual-time-budget=5000",
]

# Test-only probe, injected into a copy of the report: it records errors (scripts, failed
# resource loads, console.error) and, after load, every image that did not decode.
PROBE = """<script>
window.__errors = [];
addEventListener("error", e => __errors.push(String(e.message || (e.target && e.target.src)
  || "error").slice(0, 80)), true);
const original = console.error;
console.error = (...a) => { __errors.push(a.join(" ")); original(...a); };
addEventListener("load", () => {
  const imgs = [...document.images];
  const probe = document.createElement("pre");
  probe.id = "probe";
  probe.textContent = JSON.stringify({errors: __errors, images: imgs.length,
    broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt)});
  document.body.appendChild(probe);
});
</script>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")
def test_report_loads_in_chromium_with_no_errors_and_all_images(tmp_path):
    folder = write_results(tmp_path / "run")
    page = report_from_tables(folder).read_text()
    probed = folder / "probed.html"
    probed.write_text(page.replace("<head>", "<head>" + PROBE, 1))
    result = subprocess.run(
        [
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            probed.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    match = re.search(r'<pre id="probe">(.*?)</pre>', result.stdout, re.S)
    assert match, result.stderr[-2000:]
    probe = json.loads(match.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["errors"] == []
    assert probe["images"] >= 5
    assert probe["broken"] == []
