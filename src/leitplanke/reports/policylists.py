"""The ``policies list`` table: one row per policy, as wide as the terminal, a list when narrow.

Called by ``cli/policies``; draws with rich into a string with the table report's fixed settings.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich import box
from rich.console import Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from leitplanke.core.policies import Policy
from leitplanke.reports import tables

COLUMNS = ("policy", "pack", "severity", "category", "controls", "rules")
NARROWER_COLUMNS = ("policy", "pack", "severity", "rules")
WIDE_WIDTH = 120  # from here the category and the controls have columns of their own


def render(policies: Sequence[Policy], *, width: int, color: bool = False) -> str:
    """``policies`` as a table ``width`` columns wide, long cells wrapped inside their column (from
    ``WIDE_WIDTH`` on with columns for category and controls, below it with them under the id);
    below ``tables.NARROW_WIDTH`` a list: the id, then its severity, pack, category and controls."""
    buffer = io.StringIO()
    console = tables.build_console(buffer, color=color, width=max(width, tables.MIN_WIDTH))
    if console.width < tables.NARROW_WIDTH:
        for p in policies:
            console.print(Text(p.id, style="bold"))
            facts = Text(f"{p.severity.label}", style=tables.SEVERITY_STYLES[p.severity])
            facts.append(f", pack {p.pack or '-'}, {p.category}, {_rules(p)}")
            console.print(Padding(facts, (0, 0, 0, 2)))
            if p.controls:
                console.print(Padding(Text(f"controls: {', '.join(p.controls)}"), (0, 0, 0, 2)))
    else:
        console.print(_table(policies, wide=console.width >= WIDE_WIDTH))
    return "".join(line.rstrip() + "\n" for line in buffer.getvalue().splitlines())


def _table(policies: Sequence[Policy], *, wide: bool) -> Table:
    """Six columns when ``wide``; else category and controls under the id, so that ids fit whole."""
    # no vertical rules: a cell that wraps never leaves a broken line of box characters behind
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for name in COLUMNS if wide else NARROWER_COLUMNS:
        fixed = name in ("pack", "severity", "rules")
        # wrapped, never cut: an id with an ellipsis cannot be looked up
        table.add_column(name, no_wrap=fixed, overflow="fold", justify="right" if name == "rules" else "left")
    for p in policies:
        severity = Text(p.severity.label, style=tables.SEVERITY_STYLES[p.severity])
        if wide:
            table.add_row(p.id, p.pack or "-", severity, p.category, "\n".join(p.controls), str(len(p.rules)))
            continue
        # indented as a block: a control that wraps stays under the id's other details
        details = Padding(Text("\n".join((p.category, *p.controls)), style="dim"), (0, 0, 0, 2))
        table.add_row(Group(Text(p.id), details), p.pack or "-", severity, str(len(p.rules)))
    return table


def _rules(policy: Policy) -> str:
    count = len(policy.rules)
    return f"{count} rule" if count == 1 else f"{count} rules"
