"""The policy catalog as one self-contained HTML page: a contents sidebar, a table per pack, every
policy in full.

Called by ``catalogs.render``; pure, so the same policies always give the same bytes.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from leitplanke.core.policies import Policy, Rule
from leitplanke.reports import catalogentries

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
    groups = catalogentries.build_groups(policies)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{catalogentries.TITLE}</title>",
        f"<style>\n{_STYLE}\n</style>",
        "</head>",
        "<body>",
        '<nav id="contents">',
        f'<h2><a href="#top">{catalogentries.TITLE}</a></h2>',
        "<ul>",
    ]
    for group in groups:
        out.append(f'<li><a href="#{group.anchor}">{_h(group.name)}</a> ({len(group.entries)})<ul>')
        out += [f'<li><a href="#{e.anchor}">{_h(e.policy.id)}</a></li>' for e in group.entries]
        out.append("</ul></li>")
    out += ["</ul>", "</nav>", '<main id="top">', f"<h1>{catalogentries.TITLE}</h1>"]
    out.append(f"<p>{_h(catalogentries.summary(policies, groups))}</p>")
    for group in groups:
        out += _html_group(group)
    out += ["</main>", "</body>", "</html>"]
    return "\n".join(out) + "\n"


def _html_group(group: catalogentries.Group) -> list[str]:
    out = [f'<section id="{group.anchor}">', f"<h2>{_h(catalogentries.group_heading(group))}</h2>", "<table>"]
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


def _html_policy(entry: catalogentries.Entry) -> list[str]:
    p = entry.policy
    fixable = [rule.name for rule in p.rules if rule.fix]
    facts = [
        ("Severity", _severity(p)),
        ("Category", _h(p.category) or "–"),
        ("Controls", ", ".join(_code(c) for c in p.controls) or "–"),
        ("Applies to", _h(catalogentries.applies_to(p))),
        ("Automatic fix", "yes, " + ", ".join(_code(n) for n in fixable) if fixable else "no"),
        ("Source", _code(catalogentries.source(p))),
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
        out += ["<h4>Parameters (defaults)</h4>", _pre(catalogentries.params_text(p))]
    out.append("<h4>Rules</h4>")
    for rule in p.rules:
        out += _html_rule(rule)
    out += ['<p><a href="#top">Back to the top</a></p>', "</article>"]
    return out


def _html_rule(rule: Rule) -> list[str]:
    head = f"For each item of {_code(rule.for_each)}, compliant when:" if rule.for_each else "Compliant when:"
    out = ['<div class="rule">', f"<h5>{_code(rule.name)}</h5>", f"<p>{head}</p>", _pre(rule.validate)]
    out += [f"<p>{_h(note)}</p>" for note in catalogentries.rule_notes(rule)]
    out.append(f"<p>{catalogentries.fix_sentence(rule, code=_code, prose=_html_prose)}</p>")
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
    parts = catalogentries.CODE_SPAN.split(" ".join(text.split()))
    return "".join(_code(part[1:-1]) if index % 2 else _h(part) for index, part in enumerate(parts))
