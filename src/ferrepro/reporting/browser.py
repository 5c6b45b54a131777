"""Open the Snakemake report in a real browser (headless Chromium): the rendered DOM and a screenshot.

Snakemake's report is a React page: the HTML file holds the results as JavaScript data and the page
is built by scripts, so a check must look at what a browser renders, not at the file. Chromium's
``--dump-dom`` prints the DOM after the scripts ran (``--virtual-time-budget`` lets timers fire
without waiting in real time), ``--screenshot`` saves what the window shows.

The flags matter: as root Chromium needs ``--no-sandbox``; without ``--disable-background-networking``
and friends it keeps retrying connections that a sandboxed machine refuses and never exits; a fresh
``--user-data-dir`` keeps one run from seeing another's profile.

:func:`with_view` writes a copy of the report that, once rendered, opens one result (say a confusion
matrix) exactly as the report's own "eye" button does (``app.setView({content: "img", ...})``), so a
headless browser without a driver can render a page the reader reaches by a click.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
)


class BrowserError(RuntimeError):
    """Chromium is missing, failed, or rendered nothing."""


def find_chromium() -> str | None:
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def _run(args: list[str], timeout: int) -> subprocess.CompletedProcess:
    browser = find_chromium()
    if browser is None:
        raise BrowserError(
            "no Chromium found (apt-get install chromium); `make test` installs it where apt-get is available"
        )
    with tempfile.TemporaryDirectory(prefix="ferrepro-chromium-") as profile:
        try:
            proc = subprocess.run(
                [browser, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            raise BrowserError(f"chromium did not finish within {timeout} s: {' '.join(args)}") from None
    if proc.returncode != 0:
        raise BrowserError(f"chromium exited with {proc.returncode}: {proc.stderr[-2000:]}")
    return proc


def dump_dom(html: str | Path, budget_ms: int = 10000, timeout: int = 120) -> str:
    """The DOM of ``html`` after its scripts ran, as Chromium serialises it."""
    proc = _run([f"--virtual-time-budget={budget_ms}", "--dump-dom", Path(html).resolve().as_uri()], timeout)
    if "<body" not in proc.stdout:
        raise BrowserError(f"chromium rendered no page for {html}: {proc.stderr[-2000:]}")
    return proc.stdout


def screenshot(
    html: str | Path, png: str | Path, width: int = 1600, height: int = 1000, budget_ms: int = 10000, timeout: int = 120
) -> Path:
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    _run(
        [
            f"--virtual-time-budget={budget_ms}",
            f"--window-size={width},{height}",
            f"--screenshot={png}",
            Path(html).resolve().as_uri(),
        ],
        timeout,
    )
    if not png.exists() or png.stat().st_size == 0:
        raise BrowserError(f"chromium wrote no screenshot to {png}")
    return png


VIEW_SCRIPT = """
<script>
// ferrepro.reporting.browser.with_view: open one result the way the report's eye button does.
setTimeout(function () {{
  const key = Object.keys(results).sort().find(function (k) {{ return k.endsWith({suffix}); }});
  if (key === undefined) {{ document.body.setAttribute("data-ferrepro-view", "missing"); return; }}
  app.setView({{content: "img", contentPath: results[key].data_uri, resultPath: key}});
  document.body.setAttribute("data-ferrepro-view", key);
}}, {delay_ms});
</script>
"""


def with_view(report: str | Path, out: str | Path, suffix: str = "confusion_matrix.png", delay_ms: int = 500) -> Path:
    """A copy of ``report`` that opens the first result whose path ends with ``suffix`` as an image."""
    text = Path(report).read_text()
    if "</body>" not in text:
        raise BrowserError(f"{report} has no </body>: not a Snakemake HTML report")
    script = VIEW_SCRIPT.format(suffix=json.dumps(suffix), delay_ms=int(delay_ms))
    head, _, tail = text.rpartition("</body>")
    Path(out).write_text(head + script + "</body>" + tail)
    return Path(out)
