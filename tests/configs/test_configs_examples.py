"""``examples/configs`` through the five domain packs, the README's "Beyond Kubernetes manifests"
commands against their real output, and ``leitplanke scan --type`` end to end."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from leitplanke.engine import loading

REPO = Path(__file__).parents[2]
CONFIGS = REPO / "examples" / "configs"
PACKS = ["proxy", "mesh", "messaging", "linux", "capi"]
# the `failing` fixture of conftest.py: (policy, rule, file, line, verdict) of results that did not pass
Failing = Callable[..., set[tuple[str, str, str, int, str]]]


def _leitplanke(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "leitplanke.cli", *args]
    # the table follows COLUMNS; the test process can carry one in its C environment (readline sets
    # it) that os.environ does not show: passing os.environ leaves it out, for the default width
    environment = dict(os.environ)
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=120, check=False
    )


def test_the_config_examples_fail_exactly_what_their_comments_say(failing: Failing) -> None:
    found = {
        (policy, rule, Path(file).name, line, verdict)
        for policy, rule, file, line, verdict in failing([str(CONFIGS)], PACKS)
    }
    assert found == {
        ("capi-control-plane-replicas", "odd-replicas", "cluster-api.yaml", 36, "fail"),
        ("capi-supported-kubernetes-version", "control-plane-version", "cluster-api.yaml", 37, "fail"),
        ("capi-apiserver-audit-logging", "audit-log", "cluster-api.yaml", 45, "fail"),
        ("capi-apiserver-encryption-at-rest", "encryption-provider", "cluster-api.yaml", 45, "fail"),
        ("envoy-admin-localhost", "admin-on-loopback", "envoy.yaml", 10, "fail"),
        ("envoy-require-tls", "tls-on-every-chain", "envoy.yaml", 18, "fail"),
        ("envoy-access-logging", "access-log-configured", "envoy.yaml", 20, "fail"),
        ("envoy-request-limits", "idle-timeout", "envoy.yaml", 20, "warn"),
        ("envoy-request-limits", "request-timeouts", "envoy.yaml", 20, "warn"),
        ("require-strict-peer-authentication", "strict-mtls", "istio.yaml", 14, "fail"),
        ("require-gateway-tls", "tls-or-redirect", "istio.yaml", 28, "fail"),
        ("strimzi-authorization", "authorization", "kafka.yaml", 18, "fail"),
        ("strimzi-listener-authentication", "listener-authentication", "kafka.yaml", 22, "fail"),
        ("strimzi-listener-authentication", "listener-authentication", "kafka.yaml", 26, "fail"),
        ("strimzi-listener-tls", "external-listener-tls", "kafka.yaml", 29, "fail"),
        ("strimzi-no-auto-topic-creation", "auto-create-topics", "kafka.yaml", 30, "fail"),
        ("strimzi-production-replication", "topic-replicas", "kafka.yaml", 56, "fail"),
        ("mosquitto-authorization", "acl", "mosquitto.conf", 6, "fail"),
        ("mosquitto-listener-tls", "listener-tls", "mosquitto.conf", 10, "fail"),
        ("mosquitto-no-anonymous", "global", "mosquitto.conf", 11, "fail"),
        # server_tokens is set in http {} (line 18); both servers inherit it
        ("nginx-server-tokens-off", "server-tokens-off", "nginx.conf", 18, "fail"),
        ("nginx-request-limits", "keepalive-timeout", "nginx.conf", 24, "warn"),
        ("nginx-request-limits", "send-timeout", "nginx.conf", 24, "warn"),
        ("nginx-security-headers", "content-type-options", "nginx.conf", 24, "fail"),
        ("nginx-security-headers", "frame-options", "nginx.conf", 24, "fail"),
        ("nginx-require-tls", "tls-on-external-listeners", "nginx.conf", 25, "fail"),
        ("nginx-request-limits", "keepalive-timeout", "nginx.conf", 33, "warn"),
        ("nginx-request-limits", "send-timeout", "nginx.conf", 33, "warn"),
        ("nginx-security-headers", "content-type-options", "nginx.conf", 33, "fail"),
        ("nginx-security-headers", "frame-options", "nginx.conf", 33, "fail"),
        ("nginx-security-headers", "strict-transport-security", "nginx.conf", 33, "fail"),
        ("nginx-modern-tls", "modern-protocols", "nginx.conf", 39, "fail"),
        # no MACs line: the result points at the document, whose first setting is line 8
        ("sshd-strong-algorithms", "macs", "sshd_config", 8, "fail"),
        ("sshd-disable-root-login", "global", "sshd_config", 9, "fail"),
        ("sshd-disable-password-authentication", "global", "sshd_config", 10, "fail"),
        ("sshd-limit-auth-tries", "global", "sshd_config", 12, "fail"),
        ("sshd-strong-algorithms", "ciphers", "sshd_config", 13, "fail"),
        ("kernel-address-space-randomization", "randomize-va-space", "sysctl.conf", 8, "fail"),
        ("kernel-restrict-information", "dmesg-restrict", "sysctl.conf", 9, "fail"),
        ("network-no-redirects", "accept-redirects", "sysctl.conf", 13, "fail"),
        # the VLAN interface eth0.100, written in the slash form
        ("network-no-redirects", "accept-redirects", "sysctl.conf", 14, "fail"),
        ("network-no-source-routing", "accept-source-route", "sysctl.conf", 16, "fail"),
    }


def _readme_examples() -> list[tuple[list[str], list[str]]]:
    """The ``$ leitplanke …`` commands of the README's domain tour, each with the lines shown after it."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Beyond Kubernetes manifests", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```console\n(.*?)```", section, re.S)
    assert block is not None
    examples: list[tuple[list[str], list[str]]] = []
    for line in block[1].splitlines():
        if line.startswith("$ leitplanke "):
            examples.append((line[len("$ leitplanke ") :].split("#")[0].split(), []))
        elif line.strip():
            examples[-1][1].append(" ".join(line.split()))
    return examples


def test_the_readme_shows_one_command_per_domain_and_the_host_audit() -> None:
    commands = [" ".join(args) for args, _ in _readme_examples()]
    assert commands == [
        "scan examples/configs/envoy.yaml --pack proxy",
        "scan examples/configs/nginx.conf --pack proxy",
        "scan examples/configs/istio.yaml --pack mesh",
        "scan examples/configs/kafka.yaml --pack messaging",
        "scan examples/configs/mosquitto.conf --pack messaging",
        "scan examples/configs/sshd_config --pack linux",
        "scan examples/configs/sysctl.conf --pack linux",
        "scan examples/configs/cluster-api.yaml --pack capi",
        "scan --host --pack linux",
    ]


def test_the_readme_output_of_each_config_example_is_what_the_command_prints() -> None:
    for args, shown in _readme_examples():
        if "--host" in args:
            continue  # the host's output depends on the machine
        run = _leitplanke(*args)
        assert run.returncode == 1, run.stderr
        printed = {" ".join(line.split()) for line in run.stdout.splitlines()}
        assert [line for line in shown if line not in printed] == [], args


def test_type_reads_a_file_as_the_named_domain_and_rejects_unknown_types(tmp_path: Path) -> None:
    (tmp_path / "edge.txt").write_text("server {\n    listen 8080;\n    server_tokens on;\n}\n")

    typed = _leitplanke("scan", "edge.txt", "--type", "nginx", "--pack", "proxy", "-f", "json", cwd=tmp_path)
    untyped = _leitplanke("scan", "edge.txt", "--pack", "proxy", "-f", "json", cwd=tmp_path)
    unknown = _leitplanke("scan", "edge.txt", "--type", "apache", cwd=tmp_path)

    failing = {
        (r["policy"], r["rule"], r["location"]["file"], r["location"]["line"], r["verdict"])
        for r in json.loads(typed.stdout)["results"]
        if r["verdict"] != "pass"
    }
    assert failing == {
        ("nginx-server-tokens-off", "server-tokens-off", "edge.txt", 3, "fail"),
        ("nginx-require-tls", "tls-on-external-listeners", "edge.txt", 2, "fail"),
        ("nginx-security-headers", "content-type-options", "edge.txt", 1, "fail"),
        ("nginx-security-headers", "frame-options", "edge.txt", 1, "fail"),
        ("nginx-request-limits", "client-timeouts", "edge.txt", 1, "warn"),
        ("nginx-request-limits", "keepalive-timeout", "edge.txt", 1, "warn"),
        ("nginx-request-limits", "send-timeout", "edge.txt", 1, "warn"),
    }
    # without --type the file is read as a Kubernetes manifest, and is not one
    assert json.loads(untyped.stdout)["results"] == []
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "leitplanke: --type 'apache': use one of envoy, nginx, kafka, rabbitmq, mosquitto, sshd, sysctl, kubernetes"
    )


def test_the_config_examples_leave_the_good_example_passing_every_pack(failing: Failing) -> None:
    # set-level rules see the whole scan: the Istio examples must not pull examples/good into a mesh
    found = failing([str(REPO / "examples")], loading.available_packs())
    assert {f for f in found if "/examples/good/" in f[2]} == set()
