"""report.html (report/): pipeline writes it; every section and figure is there, inline; nothing
refers to the network; `edgernn report` refuses a folder without report.json. With Debian's
chromium present, the page is opened headless with the network cut off and a screenshot is kept
in the run folder."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

pytest.importorskip("matplotlib", reason="the report extra is not installed: pip install 'edgernn[report]'")

from edgernn.cli.main import cli  # noqa: E402
from support import shared_data  # noqa: E402

EXTERNAL = re.compile(r"""(src|href)\s*=\s*["']?\s*(https?:|//)|url\(\s*["']?(https?:|//)|@import|<script|<link""", re.I)
SECTIONS = ["Learning curves", "Confusion matrix", "Per class", "Baselines", "Precisions", "Parity gates",
            "Step latency", "Stream trace"]


@pytest.fixture(scope="module")
def sample_report(tmp_path_factory, sample_dir):
    run = tmp_path_factory.mktemp("report") / "run"
    result = CliRunner().invoke(cli, ["pipeline", str(sample_dir), "--hidden", "16", "--epochs", "3", "--threads", "1",
                                      "--precision", "fp32", "--precision", "int8-dynamic", "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert f"{run}/report.html" in result.output
    return run


def test_pipeline_writes_a_self_contained_report(sample_report):
    page = (sample_report / "report.html").read_text()
    found = [title for title in SECTIONS if f"<h2>{title}</h2>" in page]
    assert found == SECTIONS
    assert page.count("<svg") == 4  # learning curves, confusion matrix, step latency, stream trace
    assert page.count("<figcaption>") == 4
    assert EXTERNAL.search(page) is None
    rows = re.findall(r"<tr><td>(fp32|int8-dynamic)</td><td>[\d,]+</td>", page)
    assert rows == ["fp32", "int8-dynamic"]
    assert "class='fail'" not in page and page.count("class='pass'") >= 8


def test_report_refuses_a_folder_without_a_report(tmp_path):
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path}: no report.json (run `edgernn pipeline` (or `edgernn export RUN`) first)" in result.output


def test_report_rewrites_the_page_on_its_own(sample_report):
    (sample_report / "report.html").unlink()
    result = CliRunner().invoke(cli, ["report", str(sample_report), "--json"])
    assert result.exit_code == 0, result.output
    assert (sample_report / "report.html").stat().st_size > 20_000


needs_chromium = pytest.mark.skipif(shutil.which("chromium") is None,
                                    reason="Debian's chromium is not installed (.ci/run installs it)")


def render_offline(report: Path) -> str:
    """Open ``report`` in headless chromium with every fetch bound to fail, keep a full-page
    screenshot beside it (report.png) and return the rendered DOM."""
    shot = report.with_suffix(".png")
    offline = ["--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND"]  # any fetch would fail
    browser = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", *offline]
    subprocess.run([*browser, f"--screenshot={shot}", "--window-size=1100,4000", report.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 50_000  # a blank page of that size is a few kB
    return subprocess.run([*browser, "--dump-dom", report.as_uri()], capture_output=True, text=True, timeout=120,
                          check=True).stdout


@needs_chromium
def test_the_report_renders_in_a_browser_without_the_network(sample_report):
    dom = render_offline(sample_report / "report.html")
    assert dom.count("<svg") == 4 and all(f"<h2>{title}</h2>" in dom for title in SECTIONS)


# An audio run's trace adds the recording's log-mel picture; a text run's trace is over the words.
REAL_DATA_RUNS = {
    "fsdd": (("fsdd", "recordings"), ["--label-regex", r"^(\d)_", "--test-regex", r"_[0-4]\.wav$", "--epochs", "3"]),
    "20newsgroups": (("20newsgroups", "20news-bydate.tar.gz"), ["--strip", "headers,footers,quotes", "--epochs", "1",
                                                               "--max-tokens", "100", "--hidden", "32"]),
}


@pytest.mark.slow
@needs_chromium
@pytest.mark.parametrize("name", sorted(REAL_DATA_RUNS))
def test_real_data_reports_render_every_figure(name, tmp_path, request):
    """The FSDD (audio) and 20 Newsgroups (text) reports, trained briefly: every section, every
    figure drawn, nothing fetched; the screenshot stays in the run folder."""
    parts, options = REAL_DATA_RUNS[name]
    data = shared_data(*parts)
    if name == "20newsgroups":
        root = request.getfixturevalue("newsgroups")
        data, options = root / "20news-bydate-train", [*options, "--test", str(root / "20news-bydate-test")]
    run = tmp_path / name
    result = CliRunner().invoke(cli, ["pipeline", str(data), *options, "--threads", "2", "--precision", "fp32",
                                      "--precision", "int8-dynamic", "--out", str(run)])
    assert result.exit_code == 0, result.output
    dom = render_offline(run / "report.html")
    assert all(f"<h2>{title}</h2>" in dom for title in SECTIONS)
    figures = dom.count("<svg")
    assert figures == 4 and dom.count("<figcaption>") == figures
    assert EXTERNAL.search((run / "report.html").read_text()) is None
