"""``python -m tasb``: the same commands as the ``tasb`` script."""

from tasb.cli import app

app(prog_name="tasb")
