"""``python -m leitplanke.cli``: the ``leitplanke`` command without its console script."""

from leitplanke.cli.main import run

run()
