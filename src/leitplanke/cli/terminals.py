"""The terminal a command writes to: how wide it is and whether it takes colour.

Decided once per command at the edge from the stream, ``--no-color`` and ``settings.load_display``;
renderers get plain values (a width, a colour flag) and never look at the terminal themselves.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TextIO

from leitplanke import settings

# a file or a pipe without COLUMNS: wide enough for a finding and its path on one line, the width
# reports had before they followed the terminal
DEFAULT_WIDTH = 100


@dataclass(frozen=True, slots=True)
class Terminal:
    width: int
    color: bool
    interactive: bool  # a terminal, not a file or a pipe


def build_terminal(stream: TextIO | None, *, no_color: bool, display: settings.Display) -> Terminal:
    """What ``stream`` (None: a report file) takes: ``COLUMNS`` wins, else the terminal's width,
    else ``DEFAULT_WIDTH``; colour only on a terminal, never with ``--no-color`` or ``NO_COLOR``."""
    interactive = stream is not None and _is_terminal(stream)
    width = display.columns or (_terminal_width(stream) if interactive and stream else None) or DEFAULT_WIDTH
    return Terminal(
        width=width, color=interactive and not no_color and not display.no_color, interactive=interactive
    )


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def _terminal_width(stream: TextIO) -> int | None:
    try:
        return os.get_terminal_size(stream.fileno()).columns or None
    except (AttributeError, ValueError, OSError):
        return None
