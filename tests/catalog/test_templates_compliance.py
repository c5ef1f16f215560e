"""Compliance by construction: every template of the library, rendered with its defaults and with
parameters drawn from its JSON-Schema (``schemastrategies``, property-based with hypothesis), passes every built-in pack.

Every pack runs, the opt-in ones (observability) too, and every severity counts: a pre-flight in
enforce mode must find no failing and no error result, in a development and a production
environment (production labels switch on the production-only rules).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st
from schemastrategies import from_schema

from leitplanke.catalog import preflighting, scaffolding, templatelibrary, templating
from leitplanke.engine import loading

NOW = datetime(2026, 12, 7, tzinfo=UTC)
LIBRARY = templatelibrary.load_library()
NAMES = sorted(LIBRARY.templates)
ENVIRONMENTS = ("dev", "production")


@pytest.fixture(scope="module")
def checker() -> preflighting.Checker:
    return preflighting.Checker()


@pytest.fixture(scope="module")
def jinja() -> object:
    return templating.build_environment()


def _scaffold(name: str, values: dict[str, object], environment: str, checker, jinja) -> scaffolding.Scaffold:
    target = scaffolding.Target(
        app="checkout", team="team-shop", environment=environment, value_stream="retail"
    )
    return scaffolding.scaffold(
        LIBRARY.templates[name],
        values=values,
        target=target,
        mode="enforce",
        checker=checker,
        environment=jinja,
        now=NOW,
    )


def _not_passing(result: scaffolding.Scaffold) -> list[tuple[str, str, str, str]]:
    assert result.preflight is not None
    return [
        (r.policy, r.rule, r.resource.display, r.verdict.value)
        for r in result.preflight.results
        if r.verdict.value in ("fail", "error")
    ]


def test_the_pre_flight_runs_every_built_in_pack_the_opt_in_ones_too(checker) -> None:
    policy_set = checker.policy_set(now=NOW)
    packs = {policy.pack for policy in policy_set.policies.values()}
    assert packs == set(loading.available_packs())
    assert "observability" in packs


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("name", NAMES)
def test_every_template_with_its_defaults_passes_every_pack(
    name: str, environment: str, checker, jinja
) -> None:
    result = _scaffold(name, {}, environment, checker, jinja)
    assert result.errors == []
    assert _not_passing(result) == []
    assert result.preflight is not None
    assert (result.preflight.outcome, result.preflight.problems) == ("pass", ())
    assert result.preflight.results  # the packs did look at the manifests


@pytest.mark.parametrize("name", NAMES)
def test_every_template_passes_every_pack_over_generated_valid_parameters(name: str, checker, jinja) -> None:
    schema = LIBRARY.templates[name].parameters

    @settings(
        max_examples=25,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
    )
    @given(values=from_schema(schema), environment=st.sampled_from(ENVIRONMENTS))
    def check(values: dict[str, object], environment: str) -> None:
        result = _scaffold(name, values, environment, checker, jinja)
        assert result.errors == []
        assert _not_passing(result) == []
        assert result.preflight is not None and result.preflight.outcome == "pass"

    check()


def test_the_library_holds_the_eight_golden_paths_of_the_issue() -> None:
    assert NAMES == [
        "background-worker",
        "cron-job",
        "kafka-topic",
        "postgres-database",
        "rabbitmq-queue",
        "redis-cache",
        "static-site",
        "web-service",
    ]
    assert LIBRARY.problems == []


def test_the_web_service_renders_each_object_the_issue_names(checker, jinja) -> None:
    result = _scaffold("web-service", {}, "production", checker, jinja)
    documents, problems = preflighting.documents_of(result.files)
    assert problems == []
    assert sorted(d.kind for d in documents) == [
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "NetworkPolicy",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "PrometheusRule",
        "Service",
        "ServiceAccount",
        "ServiceMonitor",
    ]
    routed = _scaffold("web-service", {"exposure": "httproute"}, "dev", checker, jinja)
    kinds = sorted(d.kind for d in preflighting.documents_of(routed.files)[0])
    assert "HTTPRoute" in kinds and "Ingress" not in kinds


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("postgres-database", ["Cluster", "NetworkPolicy", "NetworkPolicy", "PrometheusRule"]),
        ("kafka-topic", ["KafkaTopic", "KafkaUser"]),
        (
            "rabbitmq-queue",
            ["Binding", "Exchange", "Permission", "Policy", "Queue", "Queue", "User", "Vhost"],
        ),
    ],
)
def test_the_operator_templates_render_the_operators_custom_resources(
    name: str, kinds: list[str], checker, jinja
) -> None:
    result = _scaffold(name, {}, "dev", checker, jinja)
    assert sorted(d.kind for d in preflighting.documents_of(result.files)[0]) == kinds


def test_all_templates_of_one_app_in_one_namespace_pass_every_pack_together(checker, jinja) -> None:
    files = []
    for name in NAMES:
        result = _scaffold(name, {}, "production", checker, jinja)
        files += [templating.RenderedFile(f"{name}/{f.name}", f.text) for f in result.files]
    preflight = checker.check(files, mode="enforce", environment="production", now=NOW)
    assert [(r.policy, r.rule, r.resource.display) for r in preflight.failing] == []
    assert (preflight.outcome, preflight.problems) == ("pass", ())
