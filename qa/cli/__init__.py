"""The ``qa`` command line: a thin click layer over the library.

Conventions every command follows:

* inputs are files or folders (folders searched recursively by extension);
* ``--out DIR`` is an output folder laid out as in the README;
* progress and summaries go to stderr, ``-q/--quiet`` silences progress;
* one bad input is a one-line message and a row in ``results/failures.csv``, the rest of
  the batch goes on;
* exit codes: 0 all inputs processed, 1 one or more inputs failed (or a check found
  problems), 2 usage error (bad option, missing file), 3 the output folder is in use by
  another qa command.

Each command lives in its own module under ``qa/cli/`` (``<name>_cmd.py``) and is
registered below.
"""

from __future__ import annotations

import click

from .. import __version__
from .common import main_group


@click.group(cls=main_group(), context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="qa")
def main() -> None:
    """Score customer-service calls and chats against a YAML rubric, locally.

    \b
    Typical use:
      qa run recordings/ chats/ --out qa-out        # everything, end to end
      qa ingest chats/export.jsonl --out qa-out     # chat logs -> conversation JSON
      qa transcribe calls/ --out qa-out             # recordings -> conversation JSON
      qa score qa-out/transcripts --out qa-out      # conversations -> results/*.parquet
      qa report qa-out --out qa-out                 # results -> reports/*.html

    Exit codes: 0 ok; 1 some inputs failed (see OUT/results/failures.csv);
    2 usage error; 3 output folder busy.
    """


def _register() -> None:
    # command modules import their heavy libraries inside the command body, so `qa --help`
    # stays fast
    from . import (calibrate_cmd, export_cmd, ingest_cmd, report_cmd, rubric_cmd, run_cmd, score_cmd,
                   transcribe_cmd)

    for module in (run_cmd, ingest_cmd, transcribe_cmd, score_cmd, rubric_cmd, report_cmd, export_cmd,
                   calibrate_cmd):
        main.add_command(module.command)


_register()
