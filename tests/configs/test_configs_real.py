"""The mesh and proxy packs on real Envoy, NGINX and Istio files from public projects (``../shared/bench/real``).

Every file loads without a Problem except the two explained below, and the results of a chosen
subset are asserted exactly as (policy, rule, file, line, verdict) for failing results.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path

import pytest

from leitplanke import engine
from leitplanke.core.documents import Document
from leitplanke.core.problems import Problem
from leitplanke.core.results import Result
from leitplanke.engine import loading
from leitplanke.sources import files

SHARED = Path(__file__).parents[2].parent / "shared"
REAL = SHARED / "bench" / "real"
NOW = datetime(2025, 6, 1, tzinfo=UTC)
TARGETS = (
    "envoyproxy__examples",
    "nginx__nginx",
    "kubernetes__ingress-nginx",
    "kubernetes__examples",
    "istio__istio",
)

pytestmark = pytest.mark.skipif(not REAL.is_dir(), reason=f"the shared corpus is not at {REAL}")


@cache
def _scan() -> tuple[list[Document], list[Problem], list[Result]]:
    loaded = loading.load_packs(["mesh", "proxy"], now=NOW)
    policy_set = engine.compile(loaded.policies)
    assert loaded.problems == [] and policy_set.problems == ()
    outputs = [o for target in TARGETS for o in files.load_path(str(REAL / target))]
    report = engine.Collected()
    engine.scan(policy_set, [outputs], report, load=lambda items: items, now=NOW, jobs=1)
    documents = [o for o in outputs if isinstance(o, Document)]
    return documents, [o for o in outputs if isinstance(o, Problem)], list(report.results)


def _failing(file: str) -> set[tuple[str, str, int, str]]:
    _, _, results = _scan()
    return {
        (r.policy, r.rule, r.location.line, r.verdict.value)
        for r in results
        if r.location is not None
        and r.location.file == str(REAL / file)
        and r.verdict.value in ("fail", "warn")
    }


def test_every_envoy_and_nginx_file_loads_and_only_explained_problems_remain() -> None:
    documents, problems, _ = _scan()
    kinds = {d.kind for d in documents if d.domain in ("envoy", "nginx")}
    assert kinds == {
        "EnvoyConfig",
        "EnvoyListener",
        "EnvoyHttpConnectionManager",
        "NginxConfig",
        "NginxServer",
    }
    assert sum(1 for d in documents if d.kind == "EnvoyConfig") == 60
    config_problems = {
        (Path(p.file).relative_to(REAL).as_posix(), p.line, p.code)
        for p in problems
        if p.code.startswith("nginx-") or "envoyproxy" in p.file
    }
    assert config_problems == {
        # the corpus has nginx.conf without the mime.types file next to it
        ("nginx__nginx/conf/nginx.conf", 18, "nginx-include-unreadable"),
        # ingress-nginx's test data: an expected output cut off before the closing brace of http
        ("kubernetes__ingress-nginx/test/data/cleanConf.expected.conf", 135, "nginx-syntax"),
    }


def test_the_envoy_front_proxy_exposes_admin_and_a_plain_http_chain_without_access_logs() -> None:
    assert _failing("envoyproxy__examples/front-proxy/envoy.yaml") == {
        ("envoy-require-tls", "tls-on-every-chain", 8, "fail"),  # chain 0 on 0.0.0.0:8080; chain 1 has TLS
        ("envoy-access-logging", "access-log-configured", 10, "fail"),
        ("envoy-access-logging", "access-log-configured", 41, "fail"),
        ("envoy-request-limits", "idle-timeout", 10, "warn"),
        ("envoy-request-limits", "idle-timeout", 41, "warn"),
        ("envoy-request-limits", "request-timeouts", 10, "warn"),
        ("envoy-request-limits", "request-timeouts", 41, "warn"),
        ("envoy-admin-localhost", "admin-on-loopback", 158, "fail"),  # admin on 0.0.0.0:8001
    }


def test_the_envoy_tls_example_terminates_tls_but_logs_nothing() -> None:
    assert _failing("envoyproxy__examples/tls/envoy-https-http.yaml") == {
        ("envoy-access-logging", "access-log-configured", 10, "fail"),
        ("envoy-request-limits", "idle-timeout", 10, "warn"),
        ("envoy-request-limits", "request-timeouts", 10, "warn"),
    }


def test_the_stock_nginx_conf_serves_plain_http_with_version_tokens() -> None:
    assert _failing("nginx__nginx/conf/nginx.conf") == {
        ("nginx-require-tls", "tls-on-external-listeners", 36, "fail"),  # listen 80
        ("nginx-server-tokens-off", "server-tokens-off", 35, "fail"),  # not set: the server block
        ("nginx-security-headers", "content-type-options", 35, "fail"),
        ("nginx-security-headers", "frame-options", 35, "fail"),
        ("nginx-request-limits", "keepalive-timeout", 31, "warn"),  # keepalive_timeout 65 in http
        ("nginx-request-limits", "client-timeouts", 35, "warn"),
        ("nginx-request-limits", "send-timeout", 35, "warn"),
    }


def test_the_ingress_nginx_echo_server_accepts_bodies_of_any_size() -> None:
    assert _failing("kubernetes__ingress-nginx/images/e2e-test-echo/rootfs/nginx.conf") == {
        ("nginx-request-limits", "body-size-limited", 13, "fail"),  # client_max_body_size 0 in http
        ("nginx-require-tls", "tls-on-external-listeners", 62, "fail"),
        ("nginx-server-tokens-off", "server-tokens-off", 61, "fail"),
        ("nginx-security-headers", "content-type-options", 61, "fail"),
        ("nginx-security-headers", "frame-options", 61, "fail"),
        ("nginx-request-limits", "keepalive-timeout", 66, "warn"),  # keepalive_timeout 620s
        ("nginx-request-limits", "client-timeouts", 61, "warn"),
        ("nginx-request-limits", "send-timeout", 61, "warn"),
    }


def test_the_bookinfo_gateway_serves_plain_http() -> None:
    assert _failing("istio__istio/samples/bookinfo/networking/bookinfo-gateway.yaml") == {
        ("require-gateway-tls", "tls-or-redirect", 14, "fail"),  # protocol: HTTP on 8080
    }


def test_exposing_istiod_uses_simple_tls_toward_a_mesh_service() -> None:
    assert _failing("istio__istio/samples/multicluster/expose-istiod-https.yaml") == {
        ("require-destination-rule-mutual-tls", "port-level-tls", 69, "fail"),
        ("require-destination-rule-mutual-tls", "port-level-tls", 76, "fail"),
    }
    assert _failing("istio__istio/samples/bookinfo/networking/destination-rule-all-mtls.yaml") == set()
