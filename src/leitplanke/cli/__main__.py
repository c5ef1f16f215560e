"""``python -m leitplanke.cli``: the same command as the ``leitplanke`` script."""

from leitplanke.cli import main

if __name__ == "__main__":
    main.run()
