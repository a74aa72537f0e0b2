"""`edgernn calibrate RUN`: choose each graph's detector operating point on validation streams
(export/calibrate.py)."""

from __future__ import annotations

import click

from edgernn.cli.options import emit, false_alarms_option, json_option


@click.command("calibrate", short_help="Choose an audio run's detector for a false-alarm budget.")
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@false_alarms_option
@click.option("--minutes", type=click.FloatRange(min=1), default=None,
              help="Minutes of validation stream built from the run's held-out clips (one-minute streams, a third "
                   "each with no added noise, 20 dB and 10 dB SNR). Default 60: fewer let a lucky setting through.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the validation streams.")
@json_option
def calibrate_command(run_dir, false_alarms_per_hour, minutes, seed, as_json):
    """Calibrate the detector of every graph in RUN (an audio run trained with --background) for
    continuous streams: sweep window, threshold (one for every keyword), minimum length,
    refractory period and hold on validation streams built from clips the model never trained
    on, write the chosen setting into each graph (edgernn stream uses it unless flags say
    otherwise) and the recall, false alarms per hour and DET points into report.json's "stream".

    \b
    Example:
      edgernn calibrate runs/kws --false-alarms-per-hour 1
    """
    from edgernn.export.calibrate import CALIBRATION_MINUTES, calibrate_run

    section = calibrate_run(run_dir, false_alarms_per_hour, CALIBRATION_MINUTES if minutes is None else minutes, seed)

    def human():
        for precision, result in section.items():
            point, measured = result["operating_point"], result["validation"]
            click.echo(f"{precision}: window {point['window']}, min steps {point['min_steps']}, refractory "
                       f"{point['refractory']}, hold {point['hold']}, thresholds {point['thresholds']}; "
                       f"validation recall {measured['recall']}, "
                       f"{measured['false_alarms_per_hour']} false alarms per hour (95% bound "
                       f"{measured['false_alarms_per_hour_upper95']})" + ("" if result["met"] else "; the budget was NOT met"))
    emit(section, as_json, human)
