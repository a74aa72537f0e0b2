"""`python -m edgernn.cli`: the `edgernn` command, for environments without the console script."""

from edgernn.cli.main import cli

cli(prog_name="edgernn")
