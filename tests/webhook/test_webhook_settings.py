"""The ``admission:`` settings this issue added, parsed: budgets and failure policies per environment
(Kubernetes' ``Fail``/``Ignore`` words too), the owning app of a request, and bad values as problems
naming their field."""

from __future__ import annotations

import orjson
from admissionreviews import build_review, pod

from leitplanke.service import admissionmodes
from leitplanke.sources import admission


def _review(labels: dict[str, str] | None, *, namespace: str = "shop") -> admission.Review:
    obj = pod("web")
    obj["metadata"]["labels"] = labels or {}
    parsed = admission.parse_review(orjson.dumps(build_review(obj, namespace=namespace)))
    assert isinstance(parsed, admission.Review)
    return parsed


def test_budgets_and_failure_policies_come_from_the_long_form_the_top_level_and_the_defaults() -> None:
    raw = {
        "environments": {
            "prod": {"mode": "enforce", "failurePolicy": "Fail", "budgetMs": 200},
            "dev": {"mode": "warn", "failurePolicy": "ignore"},
            "lab": "audit",
        },
        "failurePolicy": {"lab": "closed"},
        "budgetMs": {"default": 500, "lab": 50},
    }
    parsed, problems = admissionmodes.parse_admission_config(raw, file="l.yaml")
    assert problems == []
    assert [parsed.failure_of(env) for env in ("prod", "dev", "lab", "other")] == [
        "closed",
        "open",
        "closed",
        "open",
    ]
    assert [parsed.budget_of(env) for env in ("prod", "dev", "lab")] == [0.2, 0.5, 0.05]
    assert admissionmodes.parse_admission_config({}, file="l.yaml")[0].budget_of("any") == 1.0


def test_a_bad_budget_or_failure_policy_is_a_problem_naming_its_field() -> None:
    raw = {
        "environments": {"prod": {"mode": "enforce", "failurePolicy": "maybe", "budgetMs": 0}},
        "budgetMs": "fast",
        "apps": ["checkout"],
    }
    _, problems = admissionmodes.parse_admission_config(raw, file="l.yaml")
    assert sorted((p.field, p.message) for p in problems) == [
        ("admission.apps", "apps must map names to names"),
        ("admission.budgetMs", "budgetMs must be a number of milliseconds above 0, not 'fast'"),
        ("admission.environments.prod.budgetMs", "budgetMs must be a number of milliseconds above 0, not 0"),
        ("admission.environments.prod.failurePolicy", "'maybe' is not one of fail, ignore"),
    ]


def test_the_app_is_the_first_app_label_of_the_object_else_the_namespaces_app() -> None:
    config, _ = admissionmodes.parse_admission_config({"apps": {"shop": "checkout"}}, file="l.yaml")
    both = {"app.kubernetes.io/name": "web", "app.kubernetes.io/part-of": "storefront"}
    assert config.app_of(_review(both)) == "storefront"
    assert config.app_of(_review({"app": "cart"})) == "cart"
    assert config.app_of(_review(None)) == "checkout"
    assert config.app_of(_review(None, namespace="elsewhere")) == ""
