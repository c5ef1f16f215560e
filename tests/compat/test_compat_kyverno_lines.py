"""Kyverno results point at the failing field's own line, as native results do.

A multi-container pod (and a Deployment, through autogen) is parsed from text as ``scan`` parses
it; each failing pattern, anyPattern, deny and foreach result names the field's path and line,
or the nearest line the resource has when the field is missing.
"""

from __future__ import annotations

from datetime import UTC, datetime

from leitplanke import engine
from leitplanke.core.documents import Document
from leitplanke.engine import loading
from leitplanke.sources import parsing

NOW = datetime(2026, 12, 1, tzinfo=UTC)

POLICY = """
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata: {name: hardening}
spec:
  rules:
  - name: not-privileged
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: "privileged is not allowed"
      pattern:
        spec:
          containers:
          - =(securityContext):
              =(privileged): "false"
  - name: run-as-non-root
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: "runAsNonRoot is required"
      pattern:
        spec:
          containers:
          - securityContext:
              runAsNonRoot: true
  - name: limits-or-requests
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: "memory must be bounded"
      anyPattern:
      - spec: {containers: [{resources: {limits: {memory: "?*"}}}]}
      - spec: {containers: [{resources: {requests: {memory: "?*"}}}]}
  - name: no-latest
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: "no latest tag"
      foreach:
      - list: request.object.spec.containers
        deny:
          conditions:
            any:
            - key: "{{ element.image }}"
              operator: Equals
              value: "*:latest"
  - name: ports-named
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: "every port is named"
      foreach:
      - list: request.object.spec.containers
        foreach:
        - list: element.ports
          pattern:
            name: "?*"
  - name: no-latest-image
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: "no latest image"
      foreach:
      - list: request.object.spec.containers[].image
        deny:
          conditions:
            any:
            - key: "{{ element }}"
              operator: Equals
              value: "*:latest"
  - name: host-network
    match: {any: [{resources: {kinds: [Pod]}}]}
    validate:
      message: "no host network"
      deny:
        conditions:
          any:
          - key: "{{ request.object.spec.hostNetwork || `false` }}"
            operator: Equals
            value: true
"""

POD = """\
apiVersion: v1
kind: Pod
metadata:
  name: web
spec:
  hostNetwork: true
  containers:
  - name: app
    image: nginx:1.27
    securityContext:
      runAsNonRoot: true
    resources:
      limits: {memory: 64Mi}
  - name: side
    image: busybox:latest
    ports:
    - containerPort: 80
      name: http
    - containerPort: 81
    securityContext:
      privileged: true
      runAsNonRoot: false
"""


def _results(text: str) -> list[tuple[str, str, str, int]]:
    loaded = loading.load_text(POLICY, file="policy.yaml", now=NOW)
    policy_set = engine.compile((), options=engine.CompileOptions(foreign=tuple(loaded.foreign)))
    (document,) = [
        d for d in parsing.parse_documents(text.encode(), file="pod.yaml") if isinstance(d, Document)
    ]
    results = engine.evaluate(policy_set, document)
    return [
        (r.rule, r.verdict.value, r.location.path, r.location.line)
        for r in results
        if r.verdict.value != "pass"
    ]


def test_every_kyverno_failure_points_at_the_line_of_its_field_in_a_multi_container_pod() -> None:
    assert _results(POD) == [
        ("not-privileged", "fail", "spec.containers[1].securityContext.privileged", 21),
        ("run-as-non-root", "fail", "spec.containers[1].securityContext.runAsNonRoot", 22),
        # the second container has no resources: the nearest field it has is the container
        ("limits-or-requests", "fail", "spec.containers[1].resources", 14),
        ("no-latest", "fail", "spec.containers[1]", 14),
        ("ports-named", "fail", "spec.containers[1].ports[1].name", 19),
        # a list the resource does not hold (a projection): the element cannot be placed
        ("no-latest-image", "fail", "", 1),
        ("host-network", "fail", "", 1),
    ]


DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.27
        securityContext:
          runAsNonRoot: true
          privileged: true
        resources: {requests: {memory: 64Mi}}
        ports: [{containerPort: 80, name: http}]
"""


def test_autogen_rules_point_at_the_field_inside_the_pod_template() -> None:
    assert _results(DEPLOYMENT) == [
        ("autogen-not-privileged", "fail", "spec.template.spec.containers[0].securityContext.privileged", 13),
    ]
