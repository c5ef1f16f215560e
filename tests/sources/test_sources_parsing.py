"""parse_documents on in-memory bytes: bodies, origins, lines, and every kind of bad input."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml

from leitplanke.core.documents import Document, Origin, SkippedInput
from leitplanke.core.problems import Level, Problem
from leitplanke.sources import parsing

MANIFESTS = b"""\
# a comment before the first document
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels:
    app.kubernetes.io/name: web
spec:
  replicas: 3
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.25
        ports:
        - containerPort: 8080
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{port: 80, targetPort: 8080}]
"""


def parsed(data: bytes, **limits: int) -> list[Any]:
    return list(parsing.parse_documents(data, file="in.yaml", limits=parsing.Limits(**limits)))


def documents(data: bytes) -> list[Document]:
    found = parsed(data)
    assert all(isinstance(item, Document) for item in found), found
    return found


def test_a_multi_document_file_gives_bodies_kinds_and_origins() -> None:
    web, service = documents(MANIFESTS)
    assert web.body == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app.kubernetes.io/name": "web"}},
        "spec": {
            "replicas": 3,
            "template": {
                "spec": {
                    "containers": [{"name": "app", "image": "nginx:1.25", "ports": [{"containerPort": 8080}]}]
                }
            },
        },
    }
    assert service.body == {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"ports": [{"port": 80, "targetPort": 8080}]},
    }
    assert [(doc.kind, doc.display, doc.domain) for doc in (web, service)] == [
        ("Deployment", "Deployment/shop/web", "kubernetes"),
        ("Service", "Service/shop/web", "kubernetes"),
    ]
    assert [(doc.origin.file, doc.origin.index, doc.origin.line) for doc in (web, service)] == [
        ("in.yaml", 0, 2),
        ("in.yaml", 1, 19),
    ]


def test_lines_of_paths_are_the_lines_of_their_keys() -> None:
    web, service = documents(MANIFESTS)
    lines = web.origin.lines
    assert lines["spec.template.spec.containers[0].image"] == 15
    assert lines["spec.template.spec.containers[0]"] == 14
    assert lines["spec.template.spec.containers[0].ports[0].containerPort"] == 17
    assert lines['metadata.labels["app.kubernetes.io/name"]'] == 8
    assert lines["spec.replicas"] == 10
    assert "spec.template.spec.containers[1]" not in lines
    assert "spec.missing" not in lines
    assert service.origin.lines["spec.ports[0].targetPort"] == 23


def test_line_of_a_missing_path_is_the_line_of_its_nearest_ancestor() -> None:
    web, _ = documents(MANIFESTS)
    assert web.origin.line_of("spec.template.spec.containers[0].securityContext.privileged") == 14
    assert web.origin.line_of("spec.template.spec.hostNetwork") == 12
    assert web.origin.line_of("status.phase") == 2
    # asked twice, answered from what the first lookup remembered
    assert web.origin.line_of("spec.template.spec.containers[0].securityContext.privileged") == 14


def test_the_line_map_lists_every_path_of_the_document() -> None:
    _, service = documents(MANIFESTS)
    assert dict(service.origin.lines) == {
        "apiVersion": 19,
        "kind": 20,
        "metadata": 21,
        "metadata.name": 21,
        "metadata.namespace": 21,
        "spec": 22,
        "spec.ports": 23,
        "spec.ports[0]": 23,
        "spec.ports[0].port": 23,
        "spec.ports[0].targetPort": 23,
    }
    assert len(service.origin.lines) == 10


def test_a_frozen_origin_is_a_plain_dict_that_answers_as_the_lazy_one() -> None:
    web, _ = documents(MANIFESTS)
    paths = ["spec.template.spec.containers[0].image", "spec.template.spec.containers[0].securityContext"]
    frozen = web.origin.frozen(paths)
    assert frozen == Origin("in.yaml", 0, 2, {paths[0]: 15, paths[1]: 14})
    assert type(frozen.lines) is dict
    assert [frozen.line_of(path) for path in paths] == [web.origin.line_of(path) for path in paths]


def test_json_is_read_with_its_lines() -> None:
    data = b'{\n\t"apiVersion": "v1",\n\t"kind": "Pod",\n\t"metadata": {"name": "p"},\n\t"spec": {\n'
    data += b'\t\t"containers": [\n\t\t\t{"name": "c", "image": "busybox", "args": ["a\\/b", 1e3, 2.5, true, null]}\n'
    data += b"\t\t]\n\t}\n}\n"
    (pod,) = documents(data)
    assert pod.body == {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "p"},
        "spec": {"containers": [{"name": "c", "image": "busybox", "args": ["a/b", 1000.0, 2.5, True, None]}]},
    }
    lines = pod.origin.lines
    assert (pod.origin.line, lines["spec.containers[0].image"], lines["kind"]) == (1, 7, 3)


def test_a_json_array_gives_one_document_per_item_with_their_own_lines() -> None:
    data = b'[\n  {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}},\n'
    data += b'  {"apiVersion": "v1", "kind": "Namespace",\n   "metadata": {"name": "b"}}\n]\n'
    first, second = documents(data)
    assert [doc.name for doc in (first, second)] == ["a", "b"]
    assert [(doc.origin.index, doc.origin.line) for doc in (first, second)] == [(0, 2), (1, 3)]
    assert second.origin.lines["metadata.name"] == 4
    assert dict(first.origin.lines) == {"apiVersion": 2, "kind": 2, "metadata": 2, "metadata.name": 2}


def test_a_kind_list_gives_each_item_with_lines_in_the_file() -> None:
    data = b"""\
apiVersion: v1
kind: Service
metadata: {name: before}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: ConfigMap
  metadata:
    name: one
  data:
    key: value
- apiVersion: rbac.authorization.k8s.io/v1
  kind: Role
  metadata: {name: two}
"""
    before, config, role = documents(data)
    assert [(doc.kind, doc.name, doc.origin.index, doc.origin.line) for doc in (before, config, role)] == [
        ("Service", "before", 0, 1),
        ("ConfigMap", "one", 1, 8),
        ("Role", "two", 2, 14),
    ]
    assert config.body == {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "one"},
        "data": {"key": "value"},
    }
    assert (config.origin.lines["data.key"], role.origin.lines["metadata.name"]) == (13, 16)


def test_scalars_resolve_as_kubernetes_reads_them() -> None:
    data = b"""\
apiVersion: v1
kind: ConfigMap
metadata: {name: scalars}
values:
  decimal: 1_000
  hex: 0x1F
  octal: 0o17
  old-octal: 017
  negative: -42
  float: 1.5
  exponent: 1e5
  infinity: -.inf
  not-a-number: .nan
  word-yes: yes
  word-off: off
  letter-y: y
  letter-n: n
  "true": True
  minus-dot: -.5
  no-octal: 08
  tilde: ~
  empty:
  ports: 8080:80
  date: 2024-01-02
  quoted: "123"
  explicit: !!str 12
  tagged: !!int "12"
  binary: !!binary aGVsbG8=
  =: value-key
  80: numeric-key
  0x1F: hex-key
  off: bool-key
  huge: 99999999999999999999
"""
    (doc,) = documents(data)
    values = doc.body["values"]
    assert math.isnan(values.pop("not-a-number"))
    assert values == {
        "decimal": 1000,
        "hex": 31,
        "octal": 15,  # Go's ParseInt(base 0), as go-yaml v2 in sigs.k8s.io/yaml
        "old-octal": 15,
        "negative": -42,
        "float": 1.5,
        "exponent": 100000.0,
        "infinity": -math.inf,
        "word-yes": True,
        "word-off": False,
        "letter-y": True,
        "letter-n": False,
        "true": True,
        "minus-dot": -0.5,
        "no-octal": 8.0,  # not an octal number, so a float for go-yaml v2
        # an explicit null is null, not absent (as Kyverno and unstructured objects read it)
        "tilde": None,
        "empty": None,
        "ports": "8080:80",
        "date": "2024-01-02",
        "quoted": "123",
        "explicit": "12",
        "tagged": 12,
        "huge": 1e20,  # beyond int64: a float, as CEL cannot hold it
        "binary": "aGVsbG8=",
        "=": "value-key",
        "80": "numeric-key",
        "31": "hex-key",  # keys as sigs.k8s.io/yaml writes them into JSON
        "false": "bool-key",
    }


def test_merge_keys_bring_in_mappings_and_written_keys_win() -> None:
    data = b"""\
apiVersion: v1
kind: ConfigMap
metadata: {name: merged}
defaults: &defaults
  cpu: 100m
  memory: 64Mi
extra: &extra
  memory: 1Gi
  gpu: 1
data:
  <<: [*defaults, *extra]
  cpu: 200m
"""
    (doc,) = documents(data)
    assert doc.body["data"] == {"cpu": "200m", "memory": "64Mi", "gpu": 1}
    assert doc.origin.lines["data.cpu"] == 12
    assert doc.origin.lines["data.gpu"] == 9  # found through the merge, at the anchor's key


def test_a_duplicate_key_keeps_the_last_value_and_warns_with_its_path() -> None:
    data = b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n"
    warning, doc = parsed(data)
    assert warning == Problem(
        "in.yaml",
        5,
        "duplicate-key",
        "key 'name' occurs more than once; the last value is used",
        "metadata.name",
        3,
        Level.WARNING,
    )
    assert isinstance(doc, Document)
    assert (doc.name, doc.origin.lines["metadata.name"]) == ("b", 5)


def test_yaml_that_is_not_kubernetes_is_skipped_and_empty_documents_are_ignored() -> None:
    data = b"---\n---\n# only a comment\n---\nstatic_resources: {listeners: []}\n---\nkind: Pod\n---\n~\n"
    assert parsed(data) == [
        SkippedInput("in.yaml", 0, 5, "not-kubernetes"),
        SkippedInput("in.yaml", 1, 7, "not-kubernetes"),
    ]


def test_a_document_that_is_not_a_mapping_is_a_problem() -> None:
    data = b"- a\n- b\n---\njust text\n---\napiVersion: v1\nkind: Namespace\nmetadata: {name: ok}\n"
    sequence, scalar, namespace = parsed(data)
    assert sequence == Problem("in.yaml", 1, "not-a-mapping", "a document must be a mapping, found a list")
    assert scalar == Problem("in.yaml", 4, "not-a-mapping", "a document must be a mapping, found a scalar")
    assert isinstance(namespace, Document)
    assert (namespace.name, namespace.origin.index, namespace.origin.line) == ("ok", 2, 6)


def namespace(name: str) -> bytes:
    return b"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: " + name.encode() + b"\n"


def test_a_syntax_error_costs_only_its_document() -> None:
    broken = b"apiVersion: v1\nkind: ConfigMap\ndata:\n  key: [unclosed\n  other: 1\n"
    data = b"---\n".join([namespace("one"), namespace("two"), broken, namespace("four"), namespace("five")])
    found = parsed(data)
    problem = found[2]
    assert isinstance(problem, Problem)
    assert (problem.file, problem.line, problem.column, problem.code) == ("in.yaml", 15, 8, "yaml-syntax")
    assert problem.message == "did not find expected ',' or ']' (while parsing a flow sequence)"
    named = [(item.name, item.origin.index, item.origin.line) for item in found if isinstance(item, Document)]
    assert named == [("one", 0, 1), ("two", 1, 6), ("four", 2, 17), ("five", 3, 22)]
    assert len(found) == 5


def test_an_error_in_the_last_document_still_yields_the_ones_before() -> None:
    data = namespace("one") + b"---\nkey: value\n  bad indentation: here\n"
    first, problem = parsed(data)
    assert isinstance(first, Document) and first.name == "one"
    assert problem == Problem(
        "in.yaml", 7, "yaml-syntax", "mapping values are not allowed in this context", column=18
    )


def test_a_control_character_costs_only_its_document() -> None:
    data = namespace("one") + b"---\n" + namespace("t\x01wo") + b"---\n" + namespace("three")
    first, problem, third = parsed(data)
    assert problem == Problem(
        "in.yaml", 9, "yaml-syntax", "control character U+0001 is not allowed in YAML", column=10
    )
    assert [(doc.name, doc.origin.line) for doc in (first, third)] == [("one", 1), ("three", 11)]


def test_an_alias_bomb_is_refused_before_it_is_expanded() -> None:
    lines = [
        "apiVersion: v1",
        "kind: ConfigMap",
        'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]',
    ]
    lines += [f"a{n}: &a{n} [{','.join([f'*a{n - 1}'] * 9)}]" for n in range(1, 10)]
    bomb = "\n".join(lines).encode() + b"\n"
    found = parsed(bomb + b"---\n" + namespace("after"))
    assert found[0] == Problem(
        "in.yaml", 1, "alias-bomb", "expands to more than 1000000 nodes through aliases (billion laughs?)"
    )
    assert isinstance(found[1], Document) and (found[1].name, found[1].origin.index) == ("after", 1)


def test_small_aliases_are_copied_out() -> None:
    data = b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\na: &v [1, 2]\nb: *v\n"
    (doc,) = documents(data)
    assert (doc.body["a"], doc.body["b"], doc.body["a"] is doc.body["b"]) == ([1, 2], [1, 2], False)


def test_a_recursive_alias_is_refused() -> None:
    data = b"apiVersion: v1\nkind: ConfigMap\nloop: &loop [*loop]\n"
    assert parsed(data) == [
        Problem(
            "in.yaml", 1, "alias-bomb", "expands to more than 1000000 nodes through aliases (billion laughs?)"
        )
    ]


def test_the_node_limit_is_a_setting() -> None:
    data = b"apiVersion: v1\nkind: ConfigMap\nx: &x [1, 2, 3, 4]\ny: [*x, *x, *x]\n"
    (problem,) = parsed(data, max_nodes=20)
    assert isinstance(problem, Problem) and problem.code == "alias-bomb"
    (doc,) = parsed(data, max_nodes=40)
    assert isinstance(doc, Document)


def test_nesting_that_would_overflow_libyaml_is_refused_without_crashing() -> None:
    deep_flow = b"apiVersion: v1\nkind: ConfigMap\ndata: " + b"[" * 100_000 + b"]" * 100_000 + b"\n"
    deep_block = b"apiVersion: v1\nkind: ConfigMap\ndata:\n" + b"- " * 100_000 + b"x\n"
    for deep, deep_line, last_line in ((deep_flow, 8, 10), (deep_block, 9, 11)):
        first, problem, last = parsed(namespace("one") + b"---\n" + deep + b"---\n" + namespace("three"))
        assert problem == Problem("in.yaml", deep_line, "too-deep", "nested deeper than 4000 levels")
        assert [(doc.name, doc.origin.line) for doc in (first, last)] == [("one", 1), ("three", last_line)]


def test_nesting_deeper_than_python_follows_is_refused() -> None:
    deep = b"apiVersion: v1\nkind: ConfigMap\ndata: " + b"[" * 2000 + b"]" * 2000 + b"\n"
    assert parsed(deep) == [Problem("in.yaml", 1, "too-deep", "nested deeper than Python can follow")]


def test_invalid_utf8_is_reported_at_its_line() -> None:
    data = namespace("one") + b"---\napiVersion: v1\nkind: ConfigMap\ndata: {k: caf\xe9}\n"
    assert parsed(data) == [
        Problem("in.yaml", 8, "not-utf8", "invalid UTF-8 (byte 0xe9 at offset 101)", column=14)
    ]


def test_a_binary_file_is_refused() -> None:
    assert parsed(b"\x7fELF\x02\x01\x01\x00\x00\x00" + bytes(range(256))) == [
        Problem("in.yaml", 0, "binary-file", "NUL bytes in the first 8 KB: not a text file")
    ]


def test_input_over_the_byte_limit_is_refused() -> None:
    assert parsed(namespace("big"), max_bytes=10) == [
        Problem("in.yaml", 0, "too-large", "53 bytes is more than the limit of 10")
    ]


def test_utf16_with_a_byte_order_mark_and_utf8_with_one_are_read() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: café}\n"
    for data in (text.encode("utf-16"), b"\xef\xbb\xbf" + text.encode()):
        (doc,) = documents(data)
        assert (doc.name, doc.origin.line, doc.origin.lines["metadata.name"]) == ("café", 1, 3)


def test_lines_are_found_in_non_ascii_text() -> None:
    data = "# ünïcödé\napiVersion: v1\nkind: ConfigMap\ndata:\n  ключ: значение\n  next: ok\n".encode()
    (doc,) = documents(b"---\n" + namespace("first") + b"---\n" + data)[1:]
    assert (doc.origin.line, doc.origin.lines["data.next"], doc.origin.lines["data.ключ"]) == (8, 12, 11)


def test_json_that_yaml_cannot_read_is_read_by_the_json_module_without_lines() -> None:
    data = b'{"apiVersion": "v1", "kind": "ConfigMap", "data": {"smile": "\\ud83d\\ude00"}}'
    (doc,) = documents(data)
    assert (doc.body["data"], doc.origin.line, dict(doc.origin.lines)) == ({"smile": "\U0001f600"}, 0, {})


def test_broken_json_is_a_json_syntax_problem() -> None:
    data = b'{\n  "apiVersion": "v1",\n  "kind": "ConfigMap"\n  "data": {}\n}\n'
    assert parsed(data) == [Problem("in.yaml", 4, "json-syntax", "Expecting ',' delimiter", column=3)]


def test_the_careful_walk_builds_what_the_fast_walk_builds() -> None:
    # a merge key sends a document to the careful walk; an empty one changes nothing else
    fast = documents(MANIFESTS)
    careful = documents(MANIFESTS.replace(b"kind: Deployment\n", b"kind: Deployment\n<<: {}\n"))
    assert [doc.body for doc in careful] == [doc.body for doc in fast]
    assert careful[0].origin.lines["spec.template.spec.containers[0].image"] == 16


def test_control_characters_in_json_are_reported_by_the_json_module() -> None:
    data = b'{"apiVersion": "v1",\n "kind": "ConfigMap", "data": {"a": "x\x1by"}}\n'
    assert parsed(data) == [Problem("in.yaml", 2, "json-syntax", "Invalid control character at", column=39)]


def test_without_libyaml_the_same_documents_and_lines_come_out(monkeypatch: pytest.MonkeyPatch) -> None:
    with_libyaml = [(doc.body, doc.origin.line, dict(doc.origin.lines)) for doc in documents(MANIFESTS)]
    monkeypatch.setattr(yaml, "__with_libyaml__", False)
    without = [(doc.body, doc.origin.line, dict(doc.origin.lines)) for doc in documents(MANIFESTS)]
    assert without == with_libyaml
    deep = b"apiVersion: v1\nkind: ConfigMap\ndata: " + b"[" * 2000 + b"]" * 2000 + b"\n---\n"
    found = parsed(deep + namespace("after"))
    assert found[0] == Problem("in.yaml", 3, "too-deep", "nested deeper than Python can follow")
    assert isinstance(found[1], Document) and (found[1].name, found[1].origin.line) == ("after", 5)
