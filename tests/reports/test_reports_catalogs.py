"""The policy catalog: golden Markdown and HTML for a few fixed policies, and every built-in pack renders.

Golden files are rewritten with ``LEITPLANKE_REGENERATE_GOLDEN=1`` (see conftest).
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest

from leitplanke.core.documents import POD_KINDS
from leitplanke.core.policies import Fix, Match, Policy, Rule, Severity, SourceRef
from leitplanke.engine import loading
from leitplanke.reports import catalogentries, catalogs, htmlcatalogs, markdowncatalogs

ROOT = Path(__file__).parents[2]
NOW = datetime(2025, 6, 1, tzinfo=UTC)
ALL_PACKS = loading.load_packs(loading.available_packs(), now=NOW)


def build_policies() -> list[Policy]:
    privileged = Policy(
        id="disallow-privileged",
        title="Privileged containers are not allowed",
        severity=Severity.CRITICAL,
        category="Pod Security",
        controls=("PSS:baseline/privileged", "CIS-K8s:5.2.2"),
        description="A privileged container sees every device of the node: it *is* the node.",
        remediation="Set `securityContext.privileged` to false, or remove it.",
        match=Match(kinds=tuple(POD_KINDS)),
        pack="pss-baseline",
        source=SourceRef("/somewhere/packs/pss-baseline/disallow-privileged.yaml", 1),
        rules=(
            Rule(
                "no-privileged-containers",
                "!item.?securityContext.?privileged.orValue(false)",
                for_each="podSpec.containers + podSpec.?initContainers.orValue([])",
                fix=Fix(
                    merge={"securityContext": {"privileged": False}},
                    description="sets `privileged` to false: the container loses <all> host devices & more",
                ),
            ),
        ),
    )
    services = Policy(
        id="restrict-service-types",
        title="Services stay inside | the <b>cluster</b>",
        severity=Severity.MEDIUM,
        category="Network",
        controls=("NSA-K8s:network-separation-and-hardening",),
        description="NodePort & LoadBalancer services open the node to <any> client.",
        remediation="Use an Ingress; name it `web-<team>` and keep type `ClusterIP`.",
        match=Match(kinds=("Service",), exclude_namespaces=("kube-*",)),
        params={"allowedTypes": ["ClusterIP", "ExternalName"]},
        pack="hardening",
        source=SourceRef("/somewhere/packs/hardening/restrict-service-types.yaml", 1),
        rules=(
            Rule(
                "allowed-type",
                "object.spec.?type.orValue('ClusterIP') in params.allowedTypes",
                verdict_on_fail="warn",
            ),
        ),
    )
    own = Policy(
        id="require-network-policy",
        title="Every namespace has a NetworkPolicy",
        severity=Severity.LOW,
        controls=("LP:network",),
        description="Without one, every pod accepts traffic from everywhere.",
        remediation="Add a default-deny NetworkPolicy.",
        match=Match(kinds=("Namespace",), condition="object.metadata.name != 'default' &&\n  true"),
        source=SourceRef("policies/network.yaml", 1),
        rules=(
            Rule("has-policy", "documents.size() > 0", collect=("NetworkPolicy",)),
            Rule(
                "no-legacy-label",
                "!has(object.metadata.labels.legacy)",
                fix=Fix(remove=("legacy",), path="metadata.labels", safe=True),
            ),
        ),
    )
    return [own, services, privileged]


def test_the_markdown_catalog_matches_its_golden_file(golden):
    golden("catalog.md", markdowncatalogs.render_markdown(build_policies()))


def test_the_html_catalog_matches_its_golden_file(golden):
    golden("catalog.html", htmlcatalogs.render_html(build_policies()))


def test_packs_come_by_name_with_own_policies_last_and_policies_by_id():
    groups = catalogentries.build_groups(build_policies())
    assert [(g.name, g.anchor, [e.anchor for e in g.entries]) for g in groups] == [
        ("hardening", "pack-hardening", ["policy-restrict-service-types"]),
        ("pss-baseline", "pack-pss-baseline", ["policy-disallow-privileged"]),
        ("own policies", "pack-own", ["policy-require-network-policy"]),
    ]


def test_two_policies_with_one_id_get_distinct_anchors():
    first = build_policies()[2]
    second = dataclasses.replace(first, pack="other")
    anchors = [e.anchor for g in catalogentries.build_groups([first, second]) for e in g.entries]
    assert anchors == ["policy-disallow-privileged", "policy-disallow-privileged-2"]


def test_markup_in_policy_text_is_escaped_in_html_and_code_spans_become_code():
    page = htmlcatalogs.render_html(build_policies())
    assert "<b>cluster</b>" not in page
    assert "Services stay inside | the &lt;b&gt;cluster&lt;/b&gt;" in page
    assert "name it <code>web-&lt;team&gt;</code> and keep type <code>ClusterIP</code>." in page


def test_markup_in_policy_text_is_escaped_in_markdown_and_code_spans_stay():
    text = markdowncatalogs.render_markdown(build_policies())
    assert "the \\<b\\>cluster\\</b\\>" in text
    assert "name it `web-<team>` and keep type `ClusterIP`." in text
    assert "it \\*is\\* the node" in text


def test_a_code_span_holding_backticks_gets_a_longer_fence():
    assert markdowncatalogs._md_code("a`b") == "``a`b``"
    assert list(markdowncatalogs._md_block("x ``` y", "cel")) == ["````cel", "x ``` y", "````"]


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.links: list[str] = []
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if found.get("id"):
            self.ids.append(str(found["id"]))
        if tag == "a" and str(found.get("href", "")).startswith("#"):
            self.links.append(str(found["href"])[1:])
        if tag not in ("meta", "br"):
            self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag, f"</{tag}> closes nothing open"


@pytest.mark.parametrize("fmt", catalogs.FORMATS)
def test_every_built_in_policy_renders_and_every_link_has_its_target(fmt):
    assert ALL_PACKS.problems == []
    text = catalogs.render(fmt, ALL_PACKS.policies)
    if fmt == "html":
        parser = _Anchors()
        parser.feed(text)
        ids, links = parser.ids, parser.links
        assert parser.open == []
    else:
        ids = re.findall(r'<a id="([^"]+)"></a>', text)
        links = re.findall(r"\]\(#([^)]+)\)", text)
    assert len(ids) == len(set(ids))
    assert set(links) <= set(ids)
    # every policy is there with its anchor, and linked from the contents
    assert {f"policy-{p.id}" for p in ALL_PACKS.policies} <= set(links)


def test_every_built_in_policy_has_a_description_a_remediation_and_a_control():
    incomplete = [
        p.id
        for p in ALL_PACKS.policies
        if not (p.description.strip() and p.remediation.strip() and any(c.strip() for c in p.controls))
    ]
    assert incomplete == []


def test_the_catalog_goes_into_a_directory_or_a_file(tmp_path):
    assert catalogs.SUFFIXES == {"markdown": ".md", "html": ".html"}
    from leitplanke.cli import docs

    assert docs.catalog_path(str(tmp_path), "html") == tmp_path / "policies.html"
    assert docs.catalog_path(f"{tmp_path}/new/", "markdown") == tmp_path / "new" / "policies.md"
    assert docs.catalog_path(str(tmp_path / "catalog.htm"), "html") == tmp_path / "catalog.htm"


def test_policies_docs_writes_one_self_contained_html_file_for_every_pack(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "leitplanke.cli",
            "policies",
            "docs",
            "--all",
            "-f",
            "html",
            "-o",
            f"{tmp_path}/",
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,  # no leitplanke.yaml applies
    )
    assert run.returncode == 0, run.stderr
    assert [path.name for path in tmp_path.iterdir()] == ["policies.html"]
    page = (tmp_path / "policies.html").read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and page.endswith("</html>\n")
    assert re.search(r"""(?:src|href)=["'](?:https?:)?//""", page) is None  # nothing loaded from elsewhere
    policies = loading.load_packs(loading.available_packs(), now=NOW).policies
    assert f"catalog of {len(policies)} policies written to" in run.stderr


def test_policies_docs_refuses_an_unknown_format(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", "policies", "docs", "-f", "pdf"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert (run.returncode, run.stdout) == (2, "")
    assert "unknown format 'pdf'; use markdown (md) or html" in run.stderr


def test_policies_docs_takes_md_as_the_short_name_of_markdown(tmp_path):
    run = subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", "policies", "docs", "--pack", "pss-baseline", "-f", "md"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    policies = loading.load_packs(["pss-baseline"], now=NOW).policies
    assert (run.returncode, run.stdout) == (0, catalogs.render("markdown", policies))
