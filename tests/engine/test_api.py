"""The engine's public door: its names, an immutable policy set, and the README example run as written."""

from __future__ import annotations

import dataclasses
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leitplanke import engine
from leitplanke.core.documents import Document, Origin
from leitplanke.core.results import Verdict
from leitplanke.engine import collecting, forking, loading, policysets, running, scanning, sinks

NOW = datetime(2026, 12, 1, tzinfo=UTC)

PRIVILEGED = """
apiVersion: leitplanke.dev/v1
kind: Policy
metadata: {name: disallow-privileged}
spec:
  title: Privileged containers are not allowed
  severity: critical
  match: {kinds: [Pod]}
  rules:
  - name: no-privileged-containers
    forEach: podSpec.containers
    validate: "!item.?securityContext.?privileged.orValue(false)"
    message: "'container ' + item.name + ' is privileged'"
"""

POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"containers": [{"name": "app", "securityContext": {"privileged": True}}, {"name": "side"}]},
}


def test_the_public_names_are_exactly_these_in_ruffs_sorted_order() -> None:
    # sorted as ruff keeps it (RUF022): constants, then classes, then functions, each alphabetically
    assert engine.__all__ == sorted(engine.__all__, key=lambda n: (not n.isupper(), not n[0].isupper(), n))
    assert engine.__all__ == [
        "OPERATIONS",
        "Collected",
        "CompileOptions",
        "Context",
        "Findings",
        "Loader",
        "PolicySet",
        "Renderer",
        "Scanned",
        "Sink",
        "Spooled",
        "apply_waivers",
        "compile",
        "evaluate",
        "scan",
    ]
    assert all(hasattr(engine, name) for name in engine.__all__)


def _policy_set() -> engine.PolicySet:
    loaded = loading.load_text(PRIVILEGED, file="p.yaml", now=NOW)
    return engine.compile(loaded.policies)


def test_a_policy_set_cannot_be_changed_after_compile() -> None:
    policy_set = _policy_set()
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy_set.problems = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        policy_set.policies["other"] = policy_set.policies["disallow-privileged"]  # type: ignore[index]
    assert list(policy_set.policies) == ["disallow-privileged"]
    assert policy_set.problems == ()
    assert policy_set.set_level_rules == frozenset()


def test_compile_problems_come_back_in_the_policy_set_not_raised() -> None:
    broken = PRIVILEGED.replace("!item.?securityContext", "!item.?securityContext)")
    policy_set = engine.compile(loading.load_text(broken, file="p.yaml", now=NOW).policies)
    assert [(p.file, p.code, p.field) for p in policy_set.problems] == [
        ("p.yaml", "cel-compile", "spec.rules[0].validate")
    ]
    assert dict(policy_set.policies) == {}


def test_the_scan_path_keeps_no_state_in_module_globals() -> None:
    for module in (scanning, collecting, forking, sinks, running, policysets):
        mutable = [
            name
            for name, value in vars(module).items()
            if isinstance(value, dict | list | set) and not name.startswith("__")
        ]
        assert mutable == [], module.__name__


def test_evaluate_gives_one_result_per_rule_and_failing_item() -> None:
    results = engine.evaluate(_policy_set(), POD)
    assert [(r.policy, r.rule, r.verdict, r.message, r.location.path) for r in results] == [
        (
            "disallow-privileged",
            "no-privileged-containers",
            Verdict.FAIL,
            "container app is privileged",
            "spec.containers[0]",
        )
    ]


def test_threads_sharing_one_policy_set_get_the_same_results() -> None:
    policy_set = _policy_set()
    expected = engine.evaluate(policy_set, POD)
    seen: list[bool] = []

    def work() -> None:
        seen.extend(engine.evaluate(policy_set, POD) == expected for _ in range(200))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [True] * 800


def test_a_scan_streams_into_each_sink_the_same_results() -> None:
    policy_set = _policy_set()
    documents = [
        Document(body=POD, origin=Origin("a.yaml", index=0, line=1)),
        Document(
            body={**POD, "spec": {"containers": [{"name": "ok"}]}}, origin=Origin("a.yaml", index=1, line=9)
        ),
    ]
    collected, findings = engine.Collected(), engine.Findings()
    for sink in (collected, findings):
        scanned = engine.scan(policy_set, [documents], sink, load=lambda docs: docs, now=NOW, jobs=1)
        assert (scanned.documents, scanned.evaluations, scanned.policies) == (2, 3, 1)
    assert [(r.location.index, r.verdict) for r in collected.results] == [
        (0, Verdict.FAIL),
        (1, Verdict.PASS),
    ]
    assert findings.results == collected.results[:1]
    assert (
        findings.report(scanned).counts()
        == collected.report(scanned).counts()
        == {
            "pass": 1,
            "fail": 1,
            "warn": 0,
            "error": 0,
            "skip": 0,
        }
    )


def test_forked_workers_answer_for_every_item_once() -> None:
    offset = 10  # reaches the workers through fork, not through a pickle or a global
    answers = sorted(forking.forked_map(lambda n: n + offset, list(range(50)), processes=3))
    assert answers == list(range(10, 60))


def test_a_worker_that_raises_fails_the_caller_with_its_traceback() -> None:
    def broken(n: int) -> int:
        if n == 3:
            raise ValueError("three")
        return n

    with pytest.raises(forking.WorkerFailed, match="ValueError: three"):
        list(forking.forked_map(broken, list(range(6)), processes=2))


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_example() -> str:
    """The Python block of the README's "Architecture" section, as it stands there."""
    section = README.read_text(encoding="utf-8").split("## Architecture", 1)[1]
    return section.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_readme_example_runs_as_written(tmp_path: Path) -> None:
    folder = tmp_path / "manifests"
    folder.mkdir()
    (folder / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec:\n  hostNetwork: true\n  containers: [{name: app, image: nginx}]\n"
    )
    namespace: dict[str, object] = {"folder": str(folder)}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    results = namespace["results"]
    sink = namespace["sink"]
    assert isinstance(results, list) and isinstance(sink, engine.Findings)
    failing = {(r.policy, r.rule) for r in results if r.verdict is Verdict.FAIL}
    assert failing == {(r.policy, r.rule) for r in sink.results if r.verdict is Verdict.FAIL}
    assert failing == {("disallow-host-namespaces", "no-host-network")}
