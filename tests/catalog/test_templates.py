"""The template library's pieces: loading and its problems, parameter errors with their JSON paths,
YAML-safe rendering (no parameter injects YAML), the sandbox, the pre-flight's modes and the
catalog entry of a scaffolded app."""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings, strategies as st

from leitplanke.catalog import (
    AppSpec,
    parametervalidating,
    preflighting,
    scaffolding,
    templatelibrary,
    templating,
)
from leitplanke.catalog.parametervalidating import ParameterError
from leitplanke.core.problems import Problem

NOW = datetime(2026, 12, 7, tzinfo=UTC)
LIBRARY = templatelibrary.load_library()
TARGET = scaffolding.Target(app="checkout", team="team-shop", environment="dev")
HOSTILE = [
    "a: b\n- x",
    "x\n---\napiVersion: v1\nkind: Secret\nmetadata: {name: stolen}",
    '" }, {"name": "INJECTED", "value": "1',
    "{{ 7 * 7 }}",
    "{% raw %}",
    "\u2028line\u2029para\x85nel\ufeffbom",
    "tab\there\rcr\x00nul\x1besc",
    "&anchor *alias !!python/object:os.system",
    "\ud800 lone surrogate",
    "😀 and ünïcode",
]


@pytest.fixture(scope="module")
def jinja() -> object:
    return templating.build_environment()


def _documents(result: scaffolding.Scaffold) -> list[dict]:
    documents, problems = preflighting.documents_of(result.files)
    assert problems == []
    return [dict(d.body) for d in documents]


def test_each_template_declares_title_description_owner_docs_and_an_object_schema() -> None:
    owners = {t.name: t.owner for t in LIBRARY.listing()}
    assert owners == {
        "background-worker": "platform-team",
        "cron-job": "platform-team",
        "kafka-topic": "streaming-platform-team",
        "postgres-database": "data-platform-team",
        "rabbitmq-queue": "messaging-platform-team",
        "redis-cache": "data-platform-team",
        "static-site": "web-platform-team",
        "web-service": "platform-team",
    }
    for template in LIBRARY.listing():
        assert template.title and template.description and template.docs.startswith("## ")
        assert template.parameters["type"] == "object"
        assert template.parameters["additionalProperties"] is False
        assert parametervalidating.check_schema(template.parameters) == []


def test_a_broken_template_folder_is_left_out_with_every_problem_named(tmp_path: Path) -> None:
    folder = tmp_path / "broken"
    (folder / "manifests").mkdir(parents=True)
    (folder / "template.yaml").write_text(
        textwrap.dedent(
            """\
            apiVersion: leitplanke.dev/v1
            kind: Template
            metadata: {name: broken}
            spec:
              title: Broken
              description: ""
              docs: docs
              parameters:
                type: object
                properties:
                  replicas: {type: integer, minimum: 2, default: 1}
                  bad-name: {type: string, pattern: "(?<=x)y"}
            """
        )
    )
    library = templatelibrary.load_library(tmp_path)
    file = str(folder / "template.yaml")
    assert library.templates == {}
    assert sorted(library.problems) == sorted(
        [
            Problem(file, 0, "template-field", "a non-empty string is required", "spec.description"),
            Problem(file, 0, "template-field", "a non-empty string is required", "spec.owner"),
            Problem(
                file,
                0,
                "template-pattern",
                "error parsing regexp: invalid or unsupported Perl syntax: `(?<=`",
                "spec.parameters.properties.bad-name.pattern",
            ),
            Problem(
                file,
                0,
                "template-schema",
                "parameters are an object with additionalProperties: false",
                "spec.parameters",
            ),
            Problem(file, 0, "template-schema", "not an identifier", "spec.parameters.properties.bad-name"),
            Problem(
                file,
                0,
                "template-defaults",
                "the defaults do not validate: 1 is less than the minimum of 2",
                "spec.parameters",
            ),
            Problem(str(folder / "manifests"), 0, "template-manifests", "no manifest files"),
        ]
    )


def test_every_invalid_parameter_is_reported_with_its_json_path_and_code(jinja) -> None:
    values = {
        "minReplicas": 1,
        "port": "8080",
        "exposure": "loadbalancer",
        "env": {"lower": "x", "OK": 3},
        "image": "nginx:latest",
        "unknown": True,
        "version": "1.0.0\n",
    }
    result = scaffolding.render(
        LIBRARY.templates["web-service"], values=values, target=TARGET, environment=jinja
    )
    assert result.files == []
    assert [(e.path, e.code) for e in result.errors] == [
        ("$.env.OK", "parameter-type"),
        ("$.env.lower", "parameter-pattern"),
        ("$.exposure", "parameter-enum"),
        ("$.image", "parameter-pattern"),
        ("$.minReplicas", "parameter-minimum"),
        ("$.port", "parameter-type"),
        ("$.unknown", "parameter-additionalProperties"),
        ("$.version", "parameter-pattern"),
    ]
    assert result.errors[2].message == "must be one of 'ingress', 'httproute', 'none'"
    assert result.errors[4].message == "must satisfy minimum 2"


def test_a_missing_required_parameter_is_named_by_its_own_path() -> None:
    schema = {"type": "object", "required": ["schedule"], "properties": {"schedule": {"type": "string"}}}
    assert parametervalidating.validate(schema, {}) == [
        ParameterError("$.schedule", "parameter-required", "'schedule' is required")
    ]


def test_not_a_number_is_refused_where_every_bound_would_let_it_pass() -> None:
    schema = LIBRARY.templates["web-service"].parameters
    values = parametervalidating.with_defaults(schema, {"errorRatioThreshold": float("nan")})
    errors = parametervalidating.validate(schema, values)
    assert errors == [ParameterError("$.errorRatioThreshold", "parameter-finite", "must be a finite number")]


def test_the_target_names_are_checked_as_dns_labels_and_label_values(jinja) -> None:
    target = scaffolding.Target(
        app="Default\n", team="team shop", environment="prod", namespace="kube-system"
    )
    result = scaffolding.render(LIBRARY.templates["cron-job"], values={}, target=target, environment=jinja)
    assert [(e.path, e.code) for e in result.errors] == [
        ("app", "target-name"),
        ("namespace", "target-reserved"),
        ("team", "target-label"),
    ]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_a_hostile_parameter_value_stays_one_string_and_injects_no_yaml(hostile: str, jinja) -> None:
    values = {"env": {"GREETING": hostile}}
    result = scaffolding.render(
        LIBRARY.templates["background-worker"], values=values, target=TARGET, environment=jinja
    )
    bodies = _documents(result)
    plain = scaffolding.render(
        LIBRARY.templates["background-worker"], values={}, target=TARGET, environment=jinja
    )
    assert [(b["kind"], b["metadata"]["name"]) for b in bodies] == [
        (b["kind"], b["metadata"]["name"]) for b in _documents(plain)
    ]
    deployment = next(b for b in bodies if b["kind"] == "Deployment")
    expected = hostile.replace("\ud800", "\ufffd")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["env"] == [
        {"name": "GREETING", "value": expected},
        {"name": "METRICS_PORT", "value": "9090"},
    ]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_cron_job_arguments_stay_a_list_of_strings(hostile: str, jinja) -> None:
    result = scaffolding.render(
        LIBRARY.templates["cron-job"], values={"args": [hostile, "--x"]}, target=TARGET, environment=jinja
    )
    cronjob = next(b for b in _documents(result) if b["kind"] == "CronJob")
    container = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    assert container["args"] == [hostile.replace("\ud800", "\ufffd"), "--x"]


@settings(max_examples=300, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
        max_leaves=12,
    )
)
def test_yaml_value_reads_back_as_the_same_value_in_any_position(value: object) -> None:
    for line in ("key: {}", "- {}", "key: [{}]", "{{k: {}}}"):
        text = line.format(templating.yaml_value(value))
        parsed = yaml.safe_load(text)
        read = {"key": parsed["key"]} if isinstance(parsed, dict) and "key" in parsed else parsed
        wanted = {
            "key: {}": {"key": value},
            "- {}": [value],
            "key: [{}]": {"key": [value]},
            "{{k: {}}}": {"k": value},
        }
        assert read == wanted[line]


@pytest.mark.parametrize(
    "expression", ["params.__class__.__mro__[1].__subclasses__()", "params.update({'a': 1})"]
)
def test_the_sandbox_refuses_reaching_into_python_objects_and_changing_values(expression: str, jinja) -> None:
    with pytest.raises(templating.RenderError) as raised:
        templating.render_files(jinja, {"evil.yaml": f"x: {{{{ {expression} }}}}\n"}, values={"params": {}})
    assert raised.value.code == "template-sandbox"


def test_an_undefined_name_in_a_template_fails_instead_of_rendering_empty(jinja) -> None:
    with pytest.raises(templating.RenderError) as raised:
        templating.render_files(jinja, {"a.yaml": "name: {{ params.nmae }}\n"}, values={"params": {}})
    assert (raised.value.code, raised.value.file) == ("template-undefined", "a.yaml")
    assert str(raised.value) == "a.yaml: 'dict object' has no attribute 'nmae'"


PRIVILEGED = """\
apiVersion: v1
kind: Pod
metadata: {name: {{ app }}, namespace: {{ namespace }}}
spec:
  containers:
  - name: main
    image: {{ params.image }}
    securityContext: {privileged: true}
"""


@pytest.mark.parametrize(
    ("mode", "outcome", "allowed"),
    [("enforce", "deny", False), ("warn", "warn", True), ("audit", "audit", True)],
)
def test_the_pre_flight_judges_failures_by_the_environments_mode(
    mode: str, outcome: str, allowed: bool, jinja
) -> None:
    template = templatelibrary.Template(
        name="privileged",
        title="t",
        description="d",
        owner="o",
        docs="## d",
        parameters={
            "type": "object",
            "additionalProperties": False,
            "properties": {"image": {"type": "string", "default": "nginx"}},
        },
        manifests={"pod.yaml": PRIVILEGED},
    )
    checker = preflighting.Checker(packs=("pss-baseline",))
    result = scaffolding.scaffold(
        template, values={}, target=TARGET, mode=mode, checker=checker, environment=jinja, now=NOW
    )
    assert result.preflight is not None
    assert (result.preflight.outcome, result.preflight.allowed) == (outcome, allowed)
    assert [(r.policy, r.rule, r.resource.display, r.location.file) for r in result.preflight.failing] == [
        ("disallow-privileged-containers", "no-privileged-containers", "Pod/checkout/checkout", "pod.yaml")
    ]


def test_the_catalog_entry_registers_the_app_with_its_owner_team_and_value_stream() -> None:
    target = scaffolding.Target(
        app="checkout", team="team-shop", environment="production", value_stream="retail"
    )
    assert scaffolding.catalog_entry(target, repository="https://git.example.com/shop/checkout") == AppSpec(
        name="checkout",
        owner="team-shop",
        value_stream="retail",
        lifecycle="production",
        cloud_native=True,
        repository="https://git.example.com/shop/checkout",
    )


def test_the_catalog_entry_stored_with_put_app_registers_the_scaffolded_app(catalog_database) -> None:
    from leitplanke import catalog

    target = scaffolding.Target(app="payments", team="team-shop", environment="prod", value_stream="commerce")
    entry = scaffolding.catalog_entry(target)
    outcome = catalog.put_app(catalog_database, entry, actor="user:dev", now=NOW, must_be_new=True)
    assert outcome == "created"
    apps = {a["name"]: a for a in catalog.snapshot(catalog_database)["apps"]}
    assert apps["payments"] == {
        "name": "payments",
        "owner": "team-shop",
        "valueStream": "commerce",
        "lifecycle": "production",
        "cloudNative": True,
        "repository": "",
    }
