"""The options `train` and `pipeline` share: the data, the model, its training, the processes
and the run folder (one stack, so that the two verbs cannot drift apart)."""

from __future__ import annotations

import click

from edgernn.cli.distributed import distributed_options
from edgernn.cli.options import (
    _stack, audio_options, data_options, model_options, test_option, text_options, train_options, training_threads_option,
)
from edgernn.cli.run_folder import force_option

training_run_options = _stack(
    click.argument("data", type=click.Path(exists=True), required=False),
    test_option, data_options, audio_options, text_options, model_options, train_options, training_threads_option,
    distributed_options,
    click.option("--out", type=click.Path(file_okay=False), default=None, help="Run folder (default: runs/<cell>-<time>)."),
    force_option,
)
