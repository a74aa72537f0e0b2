"""`edgernn demo RUN` (report/demo.py): the page runs the exported graph in headless chromium with
onnxruntime-web, served from 127.0.0.1 with every other address cut off, and its streamed
probabilities equal the Python runtime's; a screenshot is kept in the run folder. Without
onnxruntime-web's files the verb says how to get them."""

from __future__ import annotations

import functools
import http.server
import json
import re
import shutil
import subprocess
import threading

import numpy as np
import pytest
from click.testing import CliRunner

from edgernn.cli.main import cli
from edgernn.report.demo import BUNDLED_ORT, ORT_FILES, stream_steps
from edgernn.runtime import Model

has_ort_web = all((BUNDLED_ORT / name).is_file() for name in ORT_FILES)
BROWSER = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
           "--proxy-server=127.0.0.1:9", "--virtual-time-budget=120000"]  # loopback bypasses the proxy; nothing else loads


class Served:
    """A static server for ``folder`` on a free 127.0.0.1 port, in a thread."""

    def __init__(self, folder):
        handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
        handler.log_message = lambda *args: None
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"

    def __enter__(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed (.ci/run installs it)")
@pytest.mark.skipif(not has_ort_web, reason="onnxruntime-web is not installed: cd interop/web && npm ci (.ci/run does)")
def test_the_page_streams_the_model_as_the_python_runtime_does(quick_runs):
    run_dir, _, artifacts = quick_runs["gru"]
    result = CliRunner().invoke(cli, ["demo", str(run_dir), "--json"])
    assert result.exit_code == 0, result.output
    folder = run_dir / "demo"
    config = json.loads((folder / "demo.json").read_text())
    with Served(folder) as served:
        dom = subprocess.run([*BROWSER, "--dump-dom", served.url], capture_output=True, text=True, timeout=300).stdout
        subprocess.run([*BROWSER, f"--screenshot={run_dir / 'demo.png'}", "--window-size=1000,800", served.url],
                       capture_output=True, timeout=300)
    assert "<title>edgernn demo: done</title>" in dom, dom[-2000:]
    shown = json.loads(re.search(r'<pre id="result"[^>]*>(.*?)</pre>', dom, re.S).group(1))
    model = Model(artifacts["fp32"].path)
    python = stream_steps(model, np.asarray(config["steps"], np.float32))
    assert np.asarray(shown["probs"]).shape == python.shape == (len(config["steps"]), len(model.labels))
    assert float(np.abs(np.asarray(shown["probs"]) - python).max()) <= 1e-5
    assert (run_dir / "demo.png").stat().st_size > 10_000


def test_without_onnxruntime_web_the_verb_says_how_to_get_it(quick_runs, tmp_path):
    run_dir, _, _ = quick_runs["gru"]
    result = CliRunner().invoke(cli, ["demo", str(run_dir), "--ort-web", str(tmp_path), "--out", str(tmp_path / "d")])
    assert result.exit_code == 2
    assert f"{tmp_path}: no onnxruntime-web files (ort.wasm.min.js, ort-wasm-simd-threaded.mjs, " \
           "ort-wasm-simd-threaded.wasm); install them with `cd interop/web && npm ci`" in result.output
