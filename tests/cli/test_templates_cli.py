"""``leitplanke templates list|show|render``: the real command in a subprocess."""

from __future__ import annotations

from pathlib import Path

import yaml

NAMES = [
    "background-worker",
    "cron-job",
    "kafka-topic",
    "postgres-database",
    "rabbitmq-queue",
    "redis-cache",
    "static-site",
    "web-service",
]


def test_list_prints_every_template_with_its_owner_and_title(run_cli) -> None:
    run = run_cli("templates", "list")
    assert run.code == 0, run
    assert [line.split()[0] for line in run.stdout_lines] == NAMES
    assert run.stdout_lines[-1].split(None, 2) == ["web-service", "platform-team", "HTTP web service"]
    listed = run_cli("templates", "list", "--format", "json").json()
    assert [t["name"] for t in listed] == NAMES


def test_show_prints_the_docs_and_every_parameter_with_its_default(run_cli) -> None:
    run = run_cli("templates", "show", "kafka-topic")
    assert run.code == 0, run
    assert run.stdout_lines[0] == "kafka-topic: Kafka topic and user (owner: streaming-platform-team)"
    parameters = run.stdout_lines[run.stdout_lines.index("Parameters:") + 1 :]
    assert [line.split()[:3] for line in parameters] == [
        ["cluster", "string", '"events"'],
        ["topic", "string", '"events"'],
        ["partitions", "integer", "6"],
        ["replicas", "integer", "3"],
        ["retentionHours", "integer", "168"],
        ["authentication", "string", '"tls"'],
        ["access", "string", '"read-write"'],
    ]
    details = run_cli("templates", "show", "kafka-topic", "-f", "json").json()
    assert details["parameters"]["properties"]["replicas"] == {
        "type": "integer",
        "minimum": 3,
        "maximum": 5,
        "default": 3,
    }


def test_render_with_set_values_prints_the_manifests_with_those_values(run_cli) -> None:
    run = run_cli(
        "templates",
        "render",
        "kafka-topic",
        "--app",
        "orders",
        "--team",
        "team-shop",
        "--set",
        "partitions=12",
        "--set",
        "access=read",
    )
    assert run.code == 0, run
    documents = [d for d in yaml.safe_load_all(run.stdout) if d]
    assert [(d["kind"], d["metadata"]["name"]) for d in documents] == [
        ("KafkaTopic", "orders.events"),
        ("KafkaUser", "orders"),
    ]
    assert documents[0]["spec"]["partitions"] == 12
    assert documents[1]["spec"]["authorization"]["acls"] == [
        {
            "resource": {"type": "topic", "name": "orders.events", "patternType": "literal"},
            "operations": ["Describe", "Read"],
        },
        {"resource": {"type": "group", "name": "orders", "patternType": "literal"}, "operations": ["Read"]},
    ]
    assert run.stdout_lines[0] == "# Source: topic.yaml"


def test_render_check_writes_the_files_and_reports_a_passing_pre_flight(run_cli, tmp_path: Path) -> None:
    values = tmp_path / "values.yaml"
    values.write_text("minReplicas: 3\nenv: {LOG_LEVEL: debug}\n")
    out = tmp_path / "out"
    run = run_cli(
        "templates",
        "render",
        "web-service",
        "--app",
        "checkout",
        "--team",
        "team-shop",
        "--environment",
        "production",
        "--values",
        str(values),
        "--set",
        "maxReplicas=9",
        "--output",
        str(out),
        "--check",
    )
    assert run.code == 0, run
    assert sorted(p.name for p in out.iterdir()) == [
        "deployment.yaml",
        "monitoring.yaml",
        "networkpolicies.yaml",
        "scaling.yaml",
        "service.yaml",
    ]
    hpa = next(
        d
        for d in yaml.safe_load_all((out / "scaling.yaml").read_text())
        if d["kind"] == "HorizontalPodAutoscaler"
    )
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 9)
    assert run.stderr_lines[0] == f"wrote 5 file(s) to {out}"
    assert run.stderr_lines[1].startswith("pre-flight (enforce): pass; 0 failing, 0 warning(s), ")


def test_render_with_invalid_parameters_exits_2_naming_each_field(run_cli) -> None:
    run = run_cli(
        "templates",
        "render",
        "cron-job",
        "--set",
        "schedule=every day",
        "--set",
        "backoffLimit=99",
        "--set",
        "colour=red",
    )
    assert run.code == 2, run
    assert run.stdout == ""
    assert run.stderr_lines == [
        "leitplanke: cron-job: 3 invalid parameter(s)",
        "cron-job: error parameter-maximum [$.backoffLimit]: must satisfy maximum 10",
        "cron-job: error parameter-additionalProperties [$.colour]: unknown parameter 'colour'",
        "cron-job: error parameter-pattern [$.schedule]: must match the pattern "
        "^(\\*|[0-9]{1,2}|\\*/[0-9]{1,2})( (\\*|[0-9]{1,2}|\\*/[0-9]{1,2})){4}$",
    ]


def test_an_unknown_template_exits_2_listing_the_known_ones(run_cli) -> None:
    run = run_cli("templates", "show", "mainframe")
    assert run.code == 2, run
    assert run.stderr_lines == [f"leitplanke: no template 'mainframe'; known: {', '.join(NAMES)}"]
