"""The policy catalog as one Markdown file: a contents list, a table per pack, every policy in full.

Called by ``catalogs.render``; pure, so the same policies always give the same bytes.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from leitplanke.core.policies import Policy, Rule
from leitplanke.reports import catalogentries

_MARKDOWN_SPECIAL = re.compile(r"([\\*_<>\[\]|#])")


def render_markdown(policies: Sequence[Policy]) -> str:
    """One Markdown file: a contents list, a table per pack, then every policy in full."""
    groups = catalogentries.build_groups(policies)
    lines = [
        f"# {catalogentries.TITLE}",
        "",
        _md_prose(catalogentries.summary(policies, groups)),
        "",
        '<a id="contents"></a>',
        "",
    ]
    lines += ["## Contents", ""]
    lines += [f"- [{_md_prose(g.name)}](#{g.anchor}) ({len(g.entries)})" for g in groups]
    for group in groups:
        lines += [
            "",
            f'<a id="{group.anchor}"></a>',
            "",
            f"## {_md_prose(catalogentries.group_heading(group))}",
            "",
        ]
        lines += ["| policy | severity | category | controls | fix |", "|---|---|---|---|---|"]
        lines += [_md_index_row(entry) for entry in group.entries]
        for entry in group.entries:
            lines += ["", *_md_policy(entry)]
    return "\n".join(lines) + "\n"


def _md_index_row(entry: catalogentries.Entry) -> str:
    p = entry.policy
    link = f"[{_md_cell(p.id)}](#{entry.anchor})<br>{_md_cell(p.title)}"
    controls = "<br>".join(_md_code(c) for c in p.controls) or "–"
    fix = "yes" if any(rule.fix for rule in p.rules) else "–"
    return f"| {link} | {p.severity.label} | {_md_cell(p.category) or '–'} | {controls} | {fix} |"


def _md_policy(entry: catalogentries.Entry) -> Iterator[str]:
    p = entry.policy
    yield f'<a id="{entry.anchor}"></a>'
    yield ""
    yield f"### {_md_prose(p.id)}: {_md_prose(p.title)}"
    yield ""
    yield f"- **Severity:** {p.severity.label}"
    yield f"- **Category:** {_md_prose(p.category) or '–'}"
    yield f"- **Controls:** {', '.join(_md_code(c) for c in p.controls) or '–'}"
    yield f"- **Applies to:** {_md_prose(catalogentries.applies_to(p))}"
    fixable = [rule.name for rule in p.rules if rule.fix]
    yield f"- **Automatic fix:** {'yes, ' + ', '.join(_md_code(n) for n in fixable) if fixable else 'no'}"
    yield f"- **Source:** {_md_code(catalogentries.source(p))}"
    if p.match.condition:
        yield ""
        yield "Applies only when:"
        yield ""
        yield from _md_block(p.match.condition, "cel")
    yield ""
    yield f"**Why it matters.** {_md_prose(p.description) or '–'}"
    yield ""
    yield f"**Remediation.** {_md_prose(p.remediation) or '–'}"
    if p.params:
        yield ""
        yield "**Parameters** (defaults):"
        yield ""
        yield from _md_block(catalogentries.params_text(p), "json")
    for rule in p.rules:
        yield ""
        yield from _md_rule(rule)
    yield ""
    yield "[Back to contents](#contents)"


def _md_rule(rule: Rule) -> Iterator[str]:
    yield f"#### Rule {_md_code(rule.name)}"
    yield ""
    if rule.for_each:
        yield f"For each item of {_md_code(rule.for_each)}, compliant when:"
    else:
        yield "Compliant when:"
    yield ""
    yield from _md_block(rule.validate, "cel")
    for note in catalogentries.rule_notes(rule):
        yield ""
        yield _md_prose(note)
    yield ""
    yield catalogentries.fix_sentence(rule, code=_md_code, prose=_md_prose)


def _md_block(text: str, language: str) -> Iterator[str]:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    yield f"{fence}{language}"
    yield from text.rstrip("\n").splitlines()
    yield fence


def _md_code(text: str) -> str:
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    ticks = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _md_prose(text: str) -> str:
    """Text as written, backtick spans kept as code, everything else escaped (``<profile>`` stays)."""
    parts = catalogentries.CODE_SPAN.split(" ".join(text.split()))
    return "".join(
        part if index % 2 else _MARKDOWN_SPECIAL.sub(r"\\\1", part) for index, part in enumerate(parts)
    )


def _md_cell(text: str) -> str:
    """Prose for a table cell: a pipe ends the cell even inside a code span, so it is escaped there too."""
    parts = catalogentries.CODE_SPAN.split(_md_prose(text))
    return "".join(part.replace("|", "\\|") if index % 2 else part for index, part in enumerate(parts))
