"""The Envoy loader: bootstrap, listener and HTTP connection manager documents with the lines of their fields."""

from __future__ import annotations

from pathlib import Path

from leitplanke.core.documents import Document, SkippedInput
from leitplanke.core.problems import Problem
from leitplanke.sources import files
from leitplanke.sources.configs import envoy

BOOTSTRAP = """\
admin:
  address:
    socket_address: {address: 0.0.0.0, port_value: 9901}
static_resources:
  listeners:
  - name: web
    address:
      socket_address: {address: 0.0.0.0, port_value: 8080}
    filter_chains:
    - filters:
      - name: envoy.filters.network.http_connection_manager
        typed_config:
          "@type": type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager
          stat_prefix: web
          route_config: {}
"""


def test_a_bootstrap_becomes_config_listener_and_connection_manager_documents_with_lines(
    tmp_path: Path,
) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text(BOOTSTRAP, encoding="utf-8")
    config, listener, manager = files.load_path(str(path))
    assert isinstance(config, Document) and isinstance(listener, Document) and isinstance(manager, Document)
    assert [(d.kind, d.name, d.domain) for d in (config, listener, manager)] == [
        ("EnvoyConfig", "envoy.yaml", "envoy"),
        ("EnvoyListener", "web", "envoy"),
        ("EnvoyHttpConnectionManager", "web/filter_chains[0]", "envoy"),
    ]
    assert config.body["apiVersion"] == "config.leitplanke.dev/v1"
    assert config.origin.line_of("spec.admin.address.socket_address.address") == 3
    assert listener.origin.line == 6
    assert listener.origin.line_of("spec.filter_chains[0]") == 10
    assert manager.origin.line == 12  # the typed_config key
    assert manager.origin.line_of("spec.stat_prefix") == 14
    assert manager.body["metadata"]["labels"] == {envoy.LISTENER_LABEL: "web"}


def test_envoy_files_are_recognised_by_their_top_level_keys_not_kubernetes_ones() -> None:
    assert envoy.recognises("envoy.yaml", b"# front proxy\nstatic_resources:\n  listeners: []\n")
    assert envoy.recognises("bootstrap.json", b'{"admin": {}, "static_resources": {}}')
    assert envoy.recognises("x.yml", b"admin:\n  address: {}\nlisteners: []\n")
    assert not envoy.recognises(
        "cm.yaml", b"apiVersion: v1\nkind: ConfigMap\ndata:\n  envoy.yaml: |\nstatic_resources:\n"
    )
    assert not envoy.recognises("envoy.conf", b"static_resources:\n")
    assert not envoy.recognises("values.yaml", b"admin:\n  enabled: true\n")


def test_a_broken_envoy_file_is_a_problem_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text("static_resources:\n  listeners:\n  - name: [oops\n", encoding="utf-8")
    outputs = list(files.load_path(str(path)))
    assert [(type(o).__name__, getattr(o, "code", "")) for o in outputs] == [("Problem", "yaml-syntax")]
    problem = outputs[0]
    assert isinstance(problem, Problem) and problem.line >= 3


def test_an_empty_document_after_a_bootstrap_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "envoy.yaml"
    path.write_text("static_resources: {}\n---\n", encoding="utf-8")
    outputs = list(files.load_path(str(path)))
    assert [type(o) for o in outputs][:1] == [Document]
    assert all(isinstance(o, Document | SkippedInput) for o in outputs)
