"""Kafka, RabbitMQ and Mosquitto loaders and the messaging pack, on fixtures and this machine's brokers."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from leitplanke.core.documents import Document
from leitplanke.core.problems import Problem
from leitplanke.sources import files
from leitplanke.sources.configs import kafka, mosquitto, rabbitmq

# the `failing` fixture of conftest.py: (policy, rule, file, line, verdict) of results that did not pass
Failing = Callable[..., set[tuple[str, str, str, int, str]]]

SHARED = Path(__file__).parents[2].parent / "shared"


def test_server_properties_become_listeners_with_protocols_and_lines(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text(
        "broker.id=1\nlisteners=CLIENT://:9093,\\\n  LOCAL://127.0.0.1:9092\n"
        "listener.security.protocol.map=CLIENT:SASL_SSL,LOCAL:PLAINTEXT\n"
    )
    assert kafka.recognises(str(path), path.read_bytes())
    [doc] = kafka.load(str(path), path.read_bytes())
    assert isinstance(doc, Document)
    assert [(x["name"], x["host"], x["protocol"]) for x in doc.body["spec"]["listeners"]] == [
        ("CLIENT", "", "SASL_SSL"),
        ("LOCAL", "127.0.0.1", "PLAINTEXT"),
    ]
    assert doc.origin.line_of('spec.properties["listener.security.protocol.map"]') == 4


def test_an_invalid_escape_in_server_properties_is_a_problem_with_its_line(tmp_path: Path) -> None:
    data = b"broker.id=1\nbad=\\uZZZZ\n"
    [problem] = kafka.load(str(tmp_path / "server.properties"), data)
    assert isinstance(problem, Problem)
    assert (problem.code, problem.line) == ("properties-syntax", 2)


def test_rabbitmq_without_tcp_listeners_listens_in_plain_text_everywhere(tmp_path: Path) -> None:
    [doc] = rabbitmq.load(str(tmp_path / "rabbitmq.conf"), b"loopback_users.guest = false\n")
    assert isinstance(doc, Document)
    assert doc.body["spec"]["listeners"] == [
        {"name": "tcp.default", "tls": False, "host": "", "port": 5672, "implicit": True}
    ]


def test_definitions_drop_password_hashes_and_keep_user_lines(tmp_path: Path) -> None:
    data = b'{"rabbit_version": "3.13",\n "users": [\n  {"name": "guest", "password_hash": "x", "tags": "administrator"}\n ],\n "vhosts": []}\n'
    path = str(tmp_path / "definitions.json")
    assert rabbitmq.recognises(path, data)
    [doc] = rabbitmq.load(path, data)
    assert isinstance(doc, Document)
    assert doc.body["spec"]["users"] == [{"name": "guest", "tags": "administrator", "hasPassword": True}]
    assert doc.origin.line_of("spec.users[0]") == 3


def test_mosquitto_listener_settings_go_to_their_listener(tmp_path: Path) -> None:
    text = b"per_listener_settings true\nlistener 8883\ncertfile /c\nallow_anonymous false\nlistener 1883 127.0.0.1\n"
    [doc] = mosquitto.load(str(tmp_path / "mosquitto.conf"), text)
    assert isinstance(doc, Document)
    assert doc.body["spec"]["listeners"] == [
        {"port": "8883", "address": "", "settings": {"certfile": "/c", "allow_anonymous": "false"}},
        {"port": "1883", "address": "127.0.0.1", "settings": {}},
    ]
    assert doc.origin.line_of("spec.listeners[0].settings.certfile") == 3


@pytest.mark.skipif(
    not os.path.exists("/etc/mosquitto/mosquitto.conf"), reason="no Mosquitto on this machine"
)
def test_the_real_mosquitto_conf_is_judged_by_what_it_says(failing: Failing) -> None:
    text = Path("/etc/mosquitto/mosquitto.conf").read_text(encoding="utf-8")
    anonymous = [n for n, line in enumerate(text.splitlines(), 1) if line.strip() == "allow_anonymous true"]
    found = failing(["/etc/mosquitto/mosquitto.conf"], ["messaging"])
    expected = {
        ("mosquitto-no-anonymous", "global", "/etc/mosquitto/mosquitto.conf", n, "fail") for n in anonymous
    }
    assert {f for f in found if f[0] == "mosquitto-no-anonymous"} == expected


@pytest.mark.skipif(not os.path.exists("/etc/rabbitmq/rabbitmq.conf"), reason="no RabbitMQ on this machine")
def test_the_real_rabbitmq_conf_loads_and_its_listeners_are_judged(failing: Failing) -> None:
    found = failing(["/etc/rabbitmq"], ["messaging"])
    [doc] = [d for d in files.load_path("/etc/rabbitmq/rabbitmq.conf") if isinstance(d, Document)]
    plain = [x for x in doc.body["spec"]["listeners"] if not x["tls"] and not x["host"].startswith("127.")]
    assert bool(plain) == any(f[0] == "rabbitmq-tls-listeners" for f in found)


@pytest.mark.skipif(not SHARED.exists(), reason="../shared is not beside the checkout")
def test_strimzi_and_cluster_api_examples_give_these_results(failing: Failing) -> None:
    real = SHARED / "bench" / "real"
    found = failing(
        [str(real / "strimzi__strimzi-kafka-operator"), str(real / "kubernetes-sigs__cluster-api")],
        ["messaging", "capi"],
    )
    kcp = str(
        real
        / "kubernetes-sigs__cluster-api/test/e2e/data/infrastructure-docker/main/bases/cluster-with-kcp.yaml"
    )
    md = str(real / "kubernetes-sigs__cluster-api/test/e2e/data/infrastructure-docker/main/bases/md.yaml")
    persistent = str(real / "strimzi__strimzi-kafka-operator/examples/kafka/kafka-persistent.yaml")
    assert {
        ("capi-apiserver-audit-logging", "audit-log", kcp, 87, "fail"),
        ("capi-apiserver-encryption-at-rest", "encryption-provider", kcp, 87, "fail"),
        ("capi-machine-health-checks", "health-check", md, 35, "fail"),
        ("strimzi-authorization", "authorization", persistent, 44, "fail"),
        ("strimzi-no-auto-topic-creation", "auto-create-topics", persistent, 56, "fail"),
        ("strimzi-listener-authentication", "listener-authentication", persistent, 48, "fail"),
    } <= found
    assert not any(f[-1] == "error" for f in found)


def test_mosquitto_include_dir_fragments_are_loaded_once_in_a_walk(tmp_path: Path) -> None:
    root = tmp_path / "mosquitto"
    (root / "conf.d").mkdir(parents=True)
    (root / "mosquitto.conf").write_text("allow_anonymous false\ninclude_dir conf.d\n")
    fragment = root / "conf.d" / "tls.conf"
    fragment.write_text("listener 8883\ncertfile /etc/mosquitto/certs/server.crt\n")
    assert mosquitto.recognises(str(fragment), fragment.read_bytes())  # a walk would find it on its own

    assert list(files.iter_sources([str(tmp_path)])) == [files.Source("file", str(root / "mosquitto.conf"))]
    [doc] = [d for d in files.load_path(str(tmp_path)) if isinstance(d, Document)]
    assert doc.body["spec"]["listeners"] == [
        {"port": "8883", "address": "", "settings": {"certfile": "/etc/mosquitto/certs/server.crt"}}
    ]
    assert list(files.iter_sources([str(fragment)])) == [files.Source("file", str(fragment))]
