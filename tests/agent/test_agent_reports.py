"""The agent against the test API server: from an empty cluster to complete PolicyReports, kept up to
date as objects change, split when too many, removed when empty, in the openreports format on request;
set-level rules re-run for the namespace that changed only, and everything again when policies change."""

from __future__ import annotations

import jsonschema
import kubeservers
import yaml

from conftest import budget, deployment, eventually, namespace, report_rows, small_cluster
from leitplanke.agent import evaluating, reporting


def test_an_empty_cluster_gets_reports_once_its_objects_appear_and_they_say_exactly_what_fails(
    kube, start_agent, policy_file
):
    state, server = kube
    kubeservers.seed(state, [])
    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",))
    assert agent.wait_for_flush()
    assert state.of("PolicyReport", "shop") == []

    for obj in small_cluster():
        state.put(obj)

    eventually(lambda: len(report_rows(state, ns="shop")) == 4 and len(report_rows(state, ns="data")) == 2)
    eventually(
        lambda: (
            ("leitplanke-agent", "require-budget", "budget", "Deployment/etl", "pass")
            in report_rows(state, ns="data")
        )
    )  # once the budget, put last, is seen
    assert report_rows(state, ns="shop") == {
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/web", "fail"),
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/api", "pass"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/web", "fail"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/api", "fail"),
    }
    assert report_rows(state, ns="data") == {
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/etl", "pass"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/etl", "pass"),
    }
    [report] = state.of("PolicyReport", "shop")
    assert report["summary"] == {"pass": 1, "fail": 3, "warn": 0, "error": 0, "skip": 0}
    assert report["metadata"]["labels"] == {
        "app.kubernetes.io/managed-by": "leitplanke",
        "leitplanke.dev/agent": "test",
    }
    assert report["metadata"]["managedFields"][0]["manager"] == "leitplanke-agent"


def test_the_reports_are_valid_wgpolicyk8s_v1alpha2_objects(kube, start_agent, policy_file, shared):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    start_agent(server, policy_paths=(str(policy_file),), packs=("none",)).wait_for_flush()
    for kind, file in (
        ("PolicyReport", "wgpolicyk8s.io_policyreports.v1alpha2.yaml"),
        ("ClusterPolicyReport", "wgpolicyk8s.io_clusterpolicyreports.v1alpha2.yaml"),
    ):
        crd = yaml.safe_load((shared / "schemas" / file).read_text())
        [version] = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha2"]
        reports = [r for ns in ("", "shop", "data") for r in state.of(kind, ns)]
        for report in reports:
            jsonschema.validate(report, version["schema"]["openAPIV3Schema"])
    assert [r["metadata"]["namespace"] for r in state.of("PolicyReport", "shop")] == ["shop"]


def test_a_change_that_fixes_an_object_makes_its_result_pass(kube, start_agent, policy_file):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    start_agent(server, policy_paths=(str(policy_file),), packs=("none",)).wait_for_flush()

    state.put(deployment("web", "shop", labels={"team": "shop"}))

    eventually(
        lambda: (
            ("leitplanke-agent", "require-team-label", "team-label", "Deployment/web", "pass")
            in report_rows(state, ns="shop")
        )
    )
    assert (
        "leitplanke-agent",
        "require-team-label",
        "team-label",
        "Deployment/web",
        "fail",
    ) not in report_rows(state, ns="shop")


def test_a_budget_added_to_one_namespace_reruns_the_set_level_rules_of_that_namespace_only(
    kube, start_agent, policy_file, monkeypatch
):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",))
    agent.wait_for_flush()
    namespaces: list[str] = []
    original = evaluating.Evaluator.namespace  # in the agent: the evaluator process is its child

    def recording(evaluator, bodies, **kwargs):
        namespaces.append(kwargs["namespace"])
        return original(evaluator, bodies, **kwargs)

    monkeypatch.setattr(evaluating.Evaluator, "namespace", recording)

    state.put(budget("web", "shop"))

    eventually(
        lambda: (
            ("leitplanke-agent", "require-budget", "budget", "Deployment/api", "pass")
            in report_rows(state, ns="shop")
        )
    )
    assert set(namespaces) == {"shop"}
    assert ("leitplanke-agent", "require-budget", "budget", "Deployment/web", "pass") in report_rows(
        state, ns="shop"
    )


def test_a_namespace_whose_objects_are_all_gone_loses_its_report(kube, start_agent, policy_file):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    start_agent(server, policy_paths=(str(policy_file),), packs=("none",)).wait_for_flush()
    assert [r["metadata"]["name"] for r in state.of("PolicyReport", "data")] == ["leitplanke-agent"]

    state.remove("apps/v1", "Deployment", "data", "etl")

    eventually(lambda: state.of("PolicyReport", "data") == [])
    assert ("DELETE", "/apis/wgpolicyk8s.io/v1alpha2/namespaces/data/policyreports/leitplanke-agent", {}) in (
        state.requests
    )


def test_more_results_than_fit_one_report_are_split_and_each_part_says_so(kube, start_agent, policy_file):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    start_agent(server, policy_paths=(str(policy_file),), packs=("none",), max_results=3).wait_for_flush()

    reports = state.of("PolicyReport", "shop")
    assert [(r["metadata"]["name"], len(r["results"]), r["metadata"]["annotations"]) for r in reports] == [
        ("leitplanke-agent", 3, {"leitplanke.dev/split": "part 1 of 2: at most 3 results per report"}),
        ("leitplanke-agent-2", 1, {"leitplanke.dev/split": "part 2 of 2: at most 3 results per report"}),
    ]
    state.remove("apps/v1", "Deployment", "shop", "api")
    eventually(
        lambda: [r["metadata"]["name"] for r in state.of("PolicyReport", "shop")] == ["leitplanke-agent"]
    )
    assert report_rows(state, ns="shop") == {
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/web", "fail"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/web", "fail"),
    }


def test_the_openreports_option_writes_reports_of_the_successor_format(kube, start_agent, policy_file):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    start_agent(server, policy_paths=(str(policy_file),), packs=("none",), openreports=True).wait_for_flush()

    assert state.of("PolicyReport", "shop") == []
    [report] = state.of("Report", "data")
    assert report["apiVersion"] == "openreports.io/v1alpha1"
    assert report_rows(state, "Report", "data") == {
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/etl", "pass"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/etl", "pass"),
    }


def test_changed_policies_re_evaluate_every_object(kube, start_agent, policy_file):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",))
    agent.wait_for_flush()
    before = agent.figures.evaluations._value.get()

    changed = policy_file.parents[1] / "changed.yaml"
    changed.write_text(policy_file.read_text().replace("'team' in", "'owner' in"), encoding="utf-8")
    changed.replace(policy_file)  # at once: the agent never reads half a file

    # each namespace's report is written when its objects are: wait for both
    eventually(
        lambda: (
            ("leitplanke-agent", "require-team-label", "team-label", "Deployment/etl", "fail")
            in report_rows(state, ns="data")
            and ("leitplanke-agent", "require-team-label", "team-label", "Deployment/api", "fail")
            in report_rows(state, ns="shop")
        )
    )
    # every object held (3 Deployments, 1 budget, 2 Namespaces) evaluated once more
    assert agent.figures.evaluations._value.get() - before == 6


def test_the_real_manifests_of_a_project_get_a_result_for_every_deployment(kube, start_agent, shared):
    state, server = kube
    seeded = list(kubeservers.real_documents(shared, projects=["GoogleCloudPlatform__microservices-demo"]))
    kubeservers.seed(state, seeded)
    start_agent(server).wait_for_flush(timeout=120)

    deployments = {f"Deployment/{o['metadata']['name']}" for o in state.of("Deployment", "default")}
    reported = {row[3] for row in report_rows(state, ns="default") if row[3].startswith("Deployment/")}
    assert len(deployments) == 12
    assert reported == deployments
    assert {r["metadata"]["name"] for r in state.of("PolicyReport", "default")} == set(
        reporting.report_names(len(state.of("PolicyReport", "default")))
    )


CLOSED = """\
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: closed-namespaces}
spec:
  title: Nothing runs in a closed namespace
  severity: low
  match: {kinds: [Deployment]}
  rules:
  - name: open
    validate: "namespaceObject == null || namespaceObject.metadata.?labels.?tier.orValue('') != 'closed'"
    message: "'namespace ' + object.metadata.namespace + ' is closed'"
"""


def test_an_object_is_evaluated_with_its_namespace_and_again_when_the_namespaces_labels_change(
    kube, start_agent, tmp_path
):
    state, server = kube
    policy = tmp_path / "closed.yaml"
    policy.write_text(CLOSED, encoding="utf-8")
    kubeservers.seed(state, [namespace("shop", tier="closed"), deployment("web", "shop")])
    agent = start_agent(server, policy_paths=(str(policy),), packs=("none",))
    agent.wait_for_flush()

    assert report_rows(state, ns="shop") == {
        ("leitplanke-agent", "closed-namespaces", "open", "Deployment/web", "fail")
    }
    assert agent.figures.evaluations._value.get() == 2  # the Namespace and web, each once

    state.put(namespace("shop", tier="open"))

    eventually(
        lambda: (
            report_rows(state, ns="shop")
            == {("leitplanke-agent", "closed-namespaces", "open", "Deployment/web", "pass")}
        )
    )
    assert agent.figures.evaluations._value.get() == 4  # the Namespace, and web with it
