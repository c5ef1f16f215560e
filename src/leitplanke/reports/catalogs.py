"""The policy catalog: every policy with its rationale, controls, remediation and rules, as Markdown or HTML.

Called by ``leitplanke policies docs``. Pure (policies in, one string out, no time stamp), so the
same policies always give the same bytes; the HTML is one self-contained file.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

from leitplanke.core.documents import POD_KINDS
from leitplanke.core.policies import Policy, Rule
from leitplanke.core.problems import UsageError
from leitplanke.reports import jsonreports

FORMATS = ("markdown", "html")
SUFFIXES: Mapping[str, str] = {"markdown": ".md", "html": ".html"}
TITLE = "leitplanke policy catalog"
OWN = "own policies"  # the group of policies that come from files, not from a built-in pack
_CODE_SPAN = re.compile(r"(`[^`\n]+`)")
_MARKDOWN_SPECIAL = re.compile(r"([\\*_<>\[\]|#])")
_UNSAFE_ANCHOR = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True, slots=True)
class Entry:
    """One policy as the catalog shows it, with the anchor its links point to."""

    policy: Policy
    anchor: str


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    anchor: str
    entries: tuple[Entry, ...]


def render(fmt: str, policies: Sequence[Policy]) -> str:
    if fmt == "markdown":
        return render_markdown(policies)
    if fmt == "html":
        return render_html(policies)
    raise UsageError(f"unknown catalog format {fmt!r}; use markdown or html")


def build_groups(policies: Sequence[Policy]) -> list[Group]:
    """Policies by pack (packs by name, own policies last), each pack's policies by id."""
    packs = sorted({p.pack for p in policies}, key=lambda pack: (pack == "", pack))
    used: set[str] = set()
    groups = []
    for pack in packs:
        members = sorted((p for p in policies if p.pack == pack), key=lambda p: (p.id, p.source.file))
        entries = tuple(Entry(p, _unique(f"policy-{p.id}", used)) for p in members)
        groups.append(Group(pack or OWN, _unique(f"pack-{pack or 'own'}", used), entries))
    return groups


def _unique(wanted: str, used: set[str]) -> str:
    base = _UNSAFE_ANCHOR.sub("-", wanted)
    anchor, number = base, 1
    while anchor in used:
        number += 1
        anchor = f"{base}-{number}"
    used.add(anchor)
    return anchor


def _summary(policies: Sequence[Policy], groups: Sequence[Group]) -> str:
    fixable = sum(1 for p in policies if any(rule.fix for rule in p.rules))
    packs = sum(1 for g in groups if g.name != OWN)
    own = len(policies) - sum(len(g.entries) for g in groups if g.name != OWN)
    text = f"{_count(len(policies), 'policy', 'policies')} in {_count(packs, 'pack', 'packs')}"
    if own:
        text += f" and {own} from policy files"
    return f"{text}; {fixable} with an automatic fix for at least one rule."


def _count(number: int, one: str, many: str) -> str:
    return f"{number} {one if number == 1 else many}"


def applies_to(policy: Policy) -> str:
    """Which documents the policy matches, in words (its CEL condition is shown apart)."""
    match = policy.match
    kinds = list(match.kinds)
    if set(POD_KINDS) <= set(kinds):
        rest = [kind for kind in kinds if kind not in POD_KINDS]
        kinds = ["every pod-bearing kind (" + ", ".join(POD_KINDS) + ")", *rest]
    text = ", ".join(kinds) if kinds else "every kind"
    if match.domains != ("kubernetes",):
        text += f" of {', '.join(match.domains)} configuration"
    if match.api_groups:
        text += f"; API groups {', '.join(g or 'core' for g in match.api_groups)}"
    if match.namespaces:
        text += f"; only in namespaces {', '.join(match.namespaces)}"
    if match.exclude_namespaces:
        text += f"; not in namespaces {', '.join(match.exclude_namespaces)}"
    if match.label_selector:
        text += f"; labels {_json(match.label_selector)}"
    return text


def source(policy: Policy) -> str:
    """Where the policy is written: ``packs/<pack>/<file>`` for built-in ones, else the path as given."""
    if policy.pack:
        return f"packs/{policy.pack}/{PurePath(policy.source.file).name}"
    return policy.source.file or "–"


def rule_notes(rule: Rule) -> list[str]:
    """Plain-text facts about a rule beyond its expression: scope, action."""
    notes = []
    if rule.collect:
        scope = "the whole scan" if rule.collect_scope == "cluster" else "its namespace"
        local = [kind for kind in rule.collect if kind not in rule.collect_cluster]
        seen = f"the {', '.join(local)} documents of {scope}" if local else ""
        if rule.collect_cluster:
            everywhere = f"the {', '.join(rule.collect_cluster)} documents of the whole scan"
            seen = f"{seen} and {everywhere}" if seen else everywhere
        notes.append(f"Set-level: sees {seen}{', filtered by collectFilter' if rule.collect_filter else ''}.")
    if rule.verdict_on_fail == "warn":
        notes.append("Reports a warning, not a failure.")
    return notes


def fix_parts(rule: Rule) -> tuple[str, str, str] | None:
    """``(merge JSON, keys removed, path)`` of the rule's fix, or None when it has none.

    An empty path is the failing ``forEach`` item, or the document for a rule without one.
    """
    fix = rule.fix
    if fix is None:
        return None
    return (_json(fix.merge) if fix.merge else "", ", ".join(fix.remove), fix.path)


def _fix_place(rule: Rule) -> str:
    return "on each failing item" if rule.for_each else "on the document"


def _json(value: Any) -> str:
    return json.dumps(jsonreports.plain(value), ensure_ascii=False, default=str)


def _params(policy: Policy) -> str:
    return json.dumps(jsonreports.plain(policy.params), indent=2, ensure_ascii=False, default=str)


# --- Markdown -------------------------------------------------------------------------------------


def render_markdown(policies: Sequence[Policy]) -> str:
    """One Markdown file: a contents list, a table per pack, then every policy in full."""
    groups = build_groups(policies)
    lines = [f"# {TITLE}", "", _md_prose(_summary(policies, groups)), "", '<a id="contents"></a>', ""]
    lines += ["## Contents", ""]
    lines += [f"- [{_md_prose(g.name)}](#{g.anchor}) ({len(g.entries)})" for g in groups]
    for group in groups:
        lines += ["", f'<a id="{group.anchor}"></a>', "", f"## {_md_prose(_group_heading(group))}", ""]
        lines += ["| policy | severity | category | controls | fix |", "|---|---|---|---|---|"]
        lines += [_md_index_row(entry) for entry in group.entries]
        for entry in group.entries:
            lines += ["", *_md_policy(entry)]
    return "\n".join(lines) + "\n"


def _group_heading(group: Group) -> str:
    return "Own policies" if group.name == OWN else f"Pack {group.name}"


def _md_index_row(entry: Entry) -> str:
    p = entry.policy
    link = f"[{_md_cell(p.id)}](#{entry.anchor})<br>{_md_cell(p.title)}"
    controls = "<br>".join(_md_code(c) for c in p.controls) or "–"
    fix = "yes" if any(rule.fix for rule in p.rules) else "–"
    return f"| {link} | {p.severity.label} | {_md_cell(p.category) or '–'} | {controls} | {fix} |"


def _md_policy(entry: Entry) -> Iterator[str]:
    p = entry.policy
    yield f'<a id="{entry.anchor}"></a>'
    yield ""
    yield f"### {_md_prose(p.id)}: {_md_prose(p.title)}"
    yield ""
    yield f"- **Severity:** {p.severity.label}"
    yield f"- **Category:** {_md_prose(p.category) or '–'}"
    yield f"- **Controls:** {', '.join(_md_code(c) for c in p.controls) or '–'}"
    yield f"- **Applies to:** {_md_prose(applies_to(p))}"
    fixable = [rule.name for rule in p.rules if rule.fix]
    yield f"- **Automatic fix:** {'yes, ' + ', '.join(_md_code(n) for n in fixable) if fixable else 'no'}"
    yield f"- **Source:** {_md_code(source(p))}"
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
        yield from _md_block(_params(p), "json")
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
    for note in rule_notes(rule):
        yield ""
        yield _md_prose(note)
    fix = fix_parts(rule)
    yield ""
    if fix is None:
        yield "Fix: none (see the remediation)."
    else:
        merge, remove, path = fix
        done = [f"merges {_md_code(merge)}"] if merge else []
        done += [f"removes {_md_code(remove)}"] if remove else []
        yield f"Fix: {' and '.join(done)} {f'at {_md_code(path)}' if path else _fix_place(rule)}."


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
    parts = _CODE_SPAN.split(" ".join(text.split()))
    return "".join(
        part if index % 2 else _MARKDOWN_SPECIAL.sub(r"\\\1", part) for index, part in enumerate(parts)
    )


def _md_cell(text: str) -> str:
    """Prose for a table cell: a pipe ends the cell even inside a code span, so it is escaped there too."""
    parts = _CODE_SPAN.split(_md_prose(text))
    return "".join(part.replace("|", "\\|") if index % 2 else part for index, part in enumerate(parts))


# --- HTML -----------------------------------------------------------------------------------------

_STYLE = """
body{font:15px/1.5 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1f2328;margin:0;display:flex}
nav{position:sticky;top:0;height:100vh;overflow:auto;width:19rem;flex:none;padding:1rem;
background:#f6f8fa;border-right:1px solid #d0d7de;box-sizing:border-box;font-size:13px}
nav ul{list-style:none;padding-left:.8rem;margin:.2rem 0}
main{padding:1rem 2rem;max-width:60rem;min-width:0}
a{color:#0969da;text-decoration:none}a:hover{text-decoration:underline}
article{border-top:1px solid #d0d7de;padding:.5rem 0 1rem}
code,pre{font:13px/1.45 ui-monospace,SFMono-Regular,Menlo,monospace}
pre{background:#f6f8fa;border:1px solid #d0d7de;border-radius:6px;padding:.6rem;overflow:auto;
white-space:pre-wrap}
p code,li code,dd code,td code{background:#eff1f3;border-radius:4px;padding:0 .25rem}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{border:1px solid #d0d7de;padding:.3rem .5rem;text-align:left;vertical-align:top}
dl{display:grid;grid-template-columns:max-content 1fr;gap:.15rem 1rem}dt{font-weight:600}dd{margin:0}
.severity{border-radius:1rem;padding:0 .5rem;font-size:12px;font-weight:600;color:#fff}
.severity-critical{background:#8b0000}.severity-high{background:#cf222e}.severity-medium{background:#9a6700}
.severity-low{background:#0969da}.severity-info{background:#6e7781}
.rule{margin-left:1rem}
""".strip()


def render_html(policies: Sequence[Policy]) -> str:
    """One self-contained HTML page: a contents sidebar, a table per pack, every policy in full."""
    groups = build_groups(policies)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{TITLE}</title>",
        f"<style>\n{_STYLE}\n</style>",
        "</head>",
        "<body>",
        '<nav id="contents">',
        f'<h2><a href="#top">{TITLE}</a></h2>',
        "<ul>",
    ]
    for group in groups:
        out.append(f'<li><a href="#{group.anchor}">{_h(group.name)}</a> ({len(group.entries)})<ul>')
        out += [f'<li><a href="#{e.anchor}">{_h(e.policy.id)}</a></li>' for e in group.entries]
        out.append("</ul></li>")
    out += ["</ul>", "</nav>", '<main id="top">', f"<h1>{TITLE}</h1>"]
    out.append(f"<p>{_h(_summary(policies, groups))}</p>")
    for group in groups:
        out += _html_group(group)
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _html_group(group: Group) -> list[str]:
    out = [f'<section id="{group.anchor}">', f"<h2>{_h(_group_heading(group))}</h2>", "<table>"]
    out.append("<tr><th>policy</th><th>severity</th><th>category</th><th>controls</th><th>fix</th></tr>")
    for entry in group.entries:
        p = entry.policy
        fix = "yes" if any(rule.fix for rule in p.rules) else "–"
        out.append(
            f'<tr><td><a href="#{entry.anchor}">{_h(p.id)}</a><br>{_h(p.title)}</td>'
            f"<td>{_severity(p)}</td><td>{_h(p.category) or '–'}</td>"
            f"<td>{'<br>'.join(_code(c) for c in p.controls) or '–'}</td><td>{fix}</td></tr>"
        )
    out.append("</table>")
    for entry in group.entries:
        out += _html_policy(entry)
    out.append("</section>")
    return out


def _html_policy(entry: Entry) -> list[str]:
    p = entry.policy
    fixable = [rule.name for rule in p.rules if rule.fix]
    facts = [
        ("Severity", _severity(p)),
        ("Category", _h(p.category) or "–"),
        ("Controls", ", ".join(_code(c) for c in p.controls) or "–"),
        ("Applies to", _h(applies_to(p))),
        ("Automatic fix", "yes, " + ", ".join(_code(n) for n in fixable) if fixable else "no"),
        ("Source", _code(source(p))),
    ]
    out = [
        f'<article id="{entry.anchor}">',
        f'<h3><a href="#{entry.anchor}">{_h(p.id)}</a>: {_h(p.title)}</h3>',
        "<dl>",
        *(f"<dt>{label}</dt><dd>{value}</dd>" for label, value in facts),
        "</dl>",
    ]
    if p.match.condition:
        out += ["<p>Applies only when:</p>", _pre(p.match.condition)]
    out += ["<h4>Why it matters</h4>", f"<p>{_html_prose(p.description) or '–'}</p>"]
    out += ["<h4>Remediation</h4>", f"<p>{_html_prose(p.remediation) or '–'}</p>"]
    if p.params:
        out += ["<h4>Parameters (defaults)</h4>", _pre(_params(p))]
    out.append("<h4>Rules</h4>")
    for rule in p.rules:
        out += _html_rule(rule)
    out += ['<p><a href="#top">Back to the top</a></p>', "</article>"]
    return out


def _html_rule(rule: Rule) -> list[str]:
    head = f"For each item of {_code(rule.for_each)}, compliant when:" if rule.for_each else "Compliant when:"
    out = ['<div class="rule">', f"<h5>{_code(rule.name)}</h5>", f"<p>{head}</p>", _pre(rule.validate)]
    out += [f"<p>{_h(note)}</p>" for note in rule_notes(rule)]
    fix = fix_parts(rule)
    if fix is None:
        out.append("<p>Fix: none (see the remediation).</p>")
    else:
        merge, remove, path = fix
        done = [f"merges {_code(merge)}"] if merge else []
        done += [f"removes {_code(remove)}"] if remove else []
        out.append(f"<p>Fix: {' and '.join(done)} {f'at {_code(path)}' if path else _fix_place(rule)}.</p>")
    out.append("</div>")
    return out


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _code(text: str) -> str:
    return f"<code>{_h(text)}</code>"


def _pre(text: str) -> str:
    return f"<pre><code>{_h(text.rstrip())}</code></pre>"


def _severity(policy: Policy) -> str:
    label = policy.severity.label
    return f'<span class="severity severity-{label}">{label}</span>'


def _html_prose(text: str) -> str:
    parts = _CODE_SPAN.split(" ".join(text.split()))
    return "".join(_code(part[1:-1]) if index % 2 else _h(part) for index, part in enumerate(parts))
