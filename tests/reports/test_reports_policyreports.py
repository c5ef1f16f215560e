import dataclasses
from typing import Any

import jsonschema
import pytest
import yaml

from leitplanke.core.results import Resource, ScanReport
from leitplanke.reports import policyreports


def load(text: str) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(text))


def strict(schema: Any) -> Any:
    """The CRD schema with unknown fields rejected: the API server would silently prune them."""
    if isinstance(schema, dict):
        tightened = {key: strict(value) for key, value in schema.items()}
        if "properties" in tightened and "additionalProperties" not in tightened:
            tightened["additionalProperties"] = False
        return tightened
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    return schema


@pytest.fixture
def crd_validators(shared_schema) -> dict[str, jsonschema.Draft4Validator]:
    validators = {}
    for kind, file in (
        ("PolicyReport", "wgpolicyk8s.io_policyreports.v1alpha2.yaml"),
        ("ClusterPolicyReport", "wgpolicyk8s.io_clusterpolicyreports.v1alpha2.yaml"),
    ):
        crd = yaml.safe_load(shared_schema(file).read_text(encoding="utf-8"))
        version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1alpha2")
        # OpenAPI v3 schemas of CRDs are, for these keywords, JSON Schema draft 4
        validators[kind] = jsonschema.Draft4Validator(strict(version["schema"]["openAPIV3Schema"]))
    return validators


def test_the_policy_reports_match_their_golden_file(report, policies, now, golden):
    golden("scan.policyreports.yaml", policyreports.render(report, policies=policies, now=now))


def test_every_report_validates_against_its_crd_schema(report, policies, now, crd_validators):
    documents = load(policyreports.render(report, policies=policies, now=now))
    for document in documents:
        crd_validators[document["kind"]].validate(document)


def test_the_strict_schema_catches_an_unknown_field(report, policies, now, crd_validators):
    document = load(policyreports.render(report, policies=policies, now=now))[0]
    document["results"][0]["lines"] = "12"
    with pytest.raises(jsonschema.ValidationError):
        crd_validators["PolicyReport"].validate(document)


def test_there_is_a_report_per_namespace_and_one_for_the_cluster(report, policies, now):
    documents = load(policyreports.render(report, policies=policies, now=now))
    assert [
        (
            d["kind"],
            d["metadata"].get("namespace"),
            d["summary"],
            [(r["policy"], r["result"]) for r in d["results"]],
        )
        for d in documents
    ] == [
        (
            "PolicyReport",
            "batch",
            {"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 2},
            [
                ("require-probes", "skip"),
                ("require-resource-limits", "fail"),
                ("disallow-privileged", "skip"),
            ],
        ),
        (
            "PolicyReport",
            "default",
            {"pass": 2, "fail": 0, "warn": 0, "error": 0, "skip": 0},
            [("disallow-privileged", "pass"), ("disallow-latest-tag", "pass")],
        ),
        (
            "PolicyReport",
            "shop",
            {"pass": 1, "fail": 1, "warn": 1, "error": 1, "skip": 0},
            [
                ("require-probes", "error"),
                ("require-resource-limits", "pass"),
                ("disallow-latest-tag", "warn"),
                ("disallow-privileged", "fail"),
            ],
        ),
        (
            "ClusterPolicyReport",
            None,
            {"pass": 0, "fail": 1, "warn": 0, "error": 0, "skip": 0},
            [("restrict-cluster-admin", "fail")],
        ),
    ]


def test_a_result_names_its_resource_time_and_where_it_was_found(report, policies, now):
    shop = load(policyreports.render(report, policies=policies, now=now))[2]
    assert shop["results"][-1] == {
        "policy": "disallow-privileged",
        "rule": "no-privileged-containers",
        "result": "fail",
        "severity": "critical",
        "category": "Pod Security",
        "message": "container 'web' is privileged",
        "source": "leitplanke",
        "scored": True,
        "resources": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "namespace": "shop"}],
        "timestamp": {"seconds": 1741944413, "nanos": 250000000},
        "properties": {
            "controls": "PSS:baseline/privileged,CIS-K8s:5.2.2",
            "file": "manifests/shop/web.yaml",
            "line": "24",
            "path": "spec.template.spec.containers[0].securityContext",
        },
    }


def test_a_waived_result_is_a_skip_that_names_its_waiver(report, policies, now):
    batch = load(policyreports.render(report, policies=policies, now=now))[0]
    waived = batch["results"][-1]
    assert (waived["result"], waived["properties"]["waiver"]) == ("skip", "legacy-batch-jobs")


@pytest.mark.parametrize(
    ("resource", "namespace"),
    [
        (Resource("apps/v1", "Deployment", "shop", "web"), "shop"),
        (Resource("apps/v1", "Deployment", "", "web"), "default"),
        (Resource("v1", "Namespace", "", "shop"), ""),
        (Resource("storage.k8s.io/v1", "StorageClass", "", "fast"), ""),
        (Resource("config.leitplanke.dev/v1", "SshdConfig", "", "bastion", domain="sshd"), ""),
    ],
)
def test_resources_without_a_namespace_go_to_default_unless_cluster_scoped(resource, namespace):
    assert policyreports.report_namespace(resource) == namespace


def test_an_empty_scan_still_gives_an_empty_cluster_report(policies, now):
    assert load(policyreports.render(ScanReport(), policies=policies, now=now)) == [
        {
            "apiVersion": "wgpolicyk8s.io/v1alpha2",
            "kind": "ClusterPolicyReport",
            "metadata": {"name": "leitplanke-scan", "labels": {"app.kubernetes.io/managed-by": "leitplanke"}},
            "summary": {"pass": 0, "fail": 0, "warn": 0, "error": 0, "skip": 0},
            "results": [],
        }
    ]


def test_reports_of_many_results_are_written_in_chunks_as_one_dump_would_write_them(report, policies, now):
    # 4,200 results in one namespace (three chunks) and an empty cluster report
    many = [
        dataclasses.replace(
            result,
            location=dataclasses.replace(result.location, index=i),
            message=f"finding {i} " + "with a long message that the dumper folds " * (i % 3),
        )
        for i in range(2100)
        for result in report.results[:2]
    ]
    big = ScanReport(results=many, documents=len(many)).finish()
    timestamp = policyreports._timestamp(now)
    namespaced = [r for r in big.results if policyreports.report_namespace(r.resource)]
    cluster = [r for r in big.results if not policyreports.report_namespace(r.resource)]
    namespace = policyreports.report_namespace(namespaced[0].resource)
    whole = yaml.dump_all(
        [
            policyreports._report("PolicyReport", namespaced, timestamp, namespace=namespace),
            policyreports._report("ClusterPolicyReport", cluster, timestamp, namespace=""),
        ],
        Dumper=policyreports._DUMPER,
        sort_keys=False,
        explicit_start=True,
        allow_unicode=True,
    )
    assert policyreports.render(big, policies=policies, now=now) == whole
    first = next(yaml.load_all(whole, Loader=yaml.CSafeLoader))
    assert len(first["results"]) == sum(first["summary"].values()) == len(namespaced) == 4200
    assert cluster == []
