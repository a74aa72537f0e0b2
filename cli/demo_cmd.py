"""`edgernn demo RUN`: a static page that runs the exported graph in the browser (onnxruntime-web)."""

from __future__ import annotations

import click

from edgernn.cli.options import PRECISIONS, emit, json_option


@click.command("demo", short_help="Write a page that runs the model in the browser.")
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@click.option("--precision", type=click.Choice(PRECISIONS), default="fp32", show_default=True,
              help="Which exported graph the page runs.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="The folder to write (default: RUN/demo).")
@click.option("--ort-web", type=click.Path(exists=True, file_okay=False), default=None,
              help="onnxruntime-web's dist folder (default: interop/web/node_modules/onnxruntime-web/dist, "
                   "from `cd interop/web && npm ci`).")
@click.option("--serve", is_flag=True, help="Then serve the folder on 127.0.0.1 until Ctrl-C.")
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True, help="With --serve.")
@json_option
def demo_command(run_dir, precision, out, ort_web, serve, port, as_json):
    """Write RUN/demo: index.html, the graph and onnxruntime-web's files, so that a browser runs
    the model with nothing fetched from the network: a test input of the run streamed step by
    step with its probabilities drawn live (and equal to the Python runtime's), and for an audio
    model that computes its own front end, the microphone. Browsers run WebAssembly only over
    HTTP: serve the folder (--serve, or any static server).

    \b
    Example:
      edgernn demo runs/jv --serve
      edgernn demo runs/kws --precision int8-dynamic --out site/kws
    """
    from edgernn.report.demo import write_demo

    folder = write_demo(run_dir, precision, out, ort_web)
    emit({"demo": str(folder), "index": str(folder / "index.html")}, as_json, lambda: click.echo(f"wrote {folder}"))
    if serve:
        serve_folder(folder, port)


def serve_folder(folder, port: int) -> None:
    import functools
    import http.server

    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    with http.server.ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        click.echo(f"serving {folder} at http://127.0.0.1:{server.server_address[1]}/ (Ctrl-C stops)", err=True)
        server.serve_forever()
