"""The evaluator process: the same verdicts as in-process evaluation, replaced after its share of
evaluations and when the policies change, and when it dies: what it held is evaluated again in a new
one, and an object that kills it twice gets an error result naming it, while the others are evaluated."""

from __future__ import annotations

import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import kubeservers
import pytest

from conftest import budget, deployment, namespace, report_rows, small_cluster
from leitplanke.agent import assessing, evaluating, inventories, metrics
from leitplanke.core.results import Result, Verdict

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def _results(agent) -> dict[inventories.ObjectKey, list[Result]]:
    assert agent.processor is not None
    return {
        key: sorted(entry.all_results, key=Result.sort_key)
        for key, entry in agent.processor.inventory.entries.items()
    }


def _evaluator(policy_file: Path, *, per_child: int) -> evaluating.Evaluator:
    policies = assessing.load_policies(paths=[str(policy_file)], packs=["none"], now=NOW)
    return evaluating.Evaluator(
        policies=policies, cluster_name="test", figures=metrics.build_metrics(), per_child=per_child
    )


def _rows(verdicts: list[inventories.Verdicts]) -> list[set[tuple[str, str, str, str]]]:
    return [
        {(r.policy, r.rule, r.resource.name, str(r.verdict)) for r in found.results}
        | {(p[0], p[1], found.resource.name if found.resource else "", "pass") for p in found.passes}
        for found in verdicts
    ]


def _restarts(evaluator: evaluating.Evaluator, reason: str) -> float:
    return evaluator.figures.evaluator_restarts.labels(reason)._value.get()


def test_the_real_manifests_get_the_same_verdicts_from_evaluator_processes_as_in_process(
    kube, start_agent, shared
):
    state, server = kube
    kubeservers.seed(state, list(kubeservers.real_documents(shared)))
    in_process = start_agent(server, evaluations_per_worker=0)
    assert in_process.wait_for_flush(timeout=300)
    expected = _results(in_process)
    in_process.stop()

    # 200 a child: the first list alone goes through at least 5 evaluator processes
    forked = start_agent(server, evaluations_per_worker=200)
    assert forked.wait_for_flush(timeout=300)

    assert len(expected) == 956  # the real objects, one of each name per type and namespace
    assert _results(forked) == expected
    # the default packs over them: many results of each kind, not a few passes
    assert sum(map(len, expected.values())) > 15_000
    assert {str(r.verdict) for results in expected.values() for r in results} >= {"pass", "fail"}
    assert forked.figures.evaluator_restarts.labels("recycled")._value.get() >= 956 // 200
    assert forked.figures.evaluator_restarts.labels("died")._value.get() == 0


def test_an_evaluator_is_replaced_after_its_share_of_evaluations(policy_file):
    evaluator = _evaluator(policy_file, per_child=3)
    web = (deployment("web", "shop"), "shop")
    pids = []
    for _ in range(4):
        assert (
            _rows(evaluator.objects([web, web], namespaces={}))
            == [{("require-team-label", "team-label", "web", "fail")}] * 2
        )
        pids.append(evaluator.child.pid if evaluator.child else 0)
    evaluator.close()

    # 2 evaluations, then 4: replaced (0: none running until the next batch)
    assert pids[1::2] == [0, 0] and len({pids[0], pids[2]}) == 2 and os.getpid() not in pids
    assert _restarts(evaluator, "recycled") == 2


def test_new_policies_get_a_new_evaluator(policy_file, tmp_path):
    evaluator = _evaluator(policy_file, per_child=100)
    web = (deployment("web", "shop", labels={"team": "shop"}), "shop")
    assert _rows(evaluator.objects([web], namespaces={})) == [
        {("require-team-label", "team-label", "web", "pass")}
    ]
    first = evaluator.child.pid if evaluator.child else 0
    other = tmp_path / "other.yaml"
    other.write_text(
        policy_file.read_text().replace("'team' in", "'owner' in").replace("require-team", "require-owner")
    )

    evaluator.replace(assessing.load_policies(paths=[str(other)], packs=["none"], now=NOW))

    assert _rows(evaluator.objects([web], namespaces={})) == [
        {("require-owner-label", "team-label", "web", "fail")}
    ]
    assert evaluator.child is not None and evaluator.child.pid != first
    assert _restarts(evaluator, "policies") == 1
    evaluator.close()


@pytest.fixture
def poisoned(monkeypatch, tmp_path):
    """Evaluating an object named ``poison`` kills the evaluator process (``poisoned["once"] = True``:
    only the first time, a file in ``tmp_path`` remembering it across processes)."""
    original = evaluating.evaluate_objects
    parent = os.getpid()
    settings = {"once": False}
    marker = tmp_path / "killed"

    def evaluate(policies, items, namespaces, *, cluster_name):
        poison = any(body["metadata"]["name"] == "poison" for body, _ in items)
        if poison and os.getpid() != parent and not (settings["once"] and marker.exists()):
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
        return original(policies, items, namespaces, cluster_name=cluster_name)

    # patched before the evaluator forks: its children evaluate with it
    monkeypatch.setattr(evaluating, "evaluate_objects", evaluate)
    return settings


def test_an_object_that_kills_the_evaluator_twice_gets_an_error_naming_it_and_the_others_their_verdicts(
    policy_file, poisoned
):
    evaluator = _evaluator(policy_file, per_child=100)
    items = [
        (deployment("web", "shop"), "shop"),
        (deployment("poison", "shop"), "shop"),
        (deployment("api", "shop", labels={"team": "shop"}), "shop"),
    ]

    found = evaluator.objects(items, namespaces={})

    assert _rows(found) == [
        {("require-team-label", "team-label", "web", "fail")},
        {("leitplanke-agent", "evaluation", "poison", "error")},
        {("require-team-label", "team-label", "api", "pass")},
    ]
    error = found[1].results[0]
    assert (error.verdict, error.code, error.location.file) == (
        Verdict.ERROR,
        "evaluator-died",
        "cluster:test/Deployment/shop/poison",
    )
    assert error.message == "Deployment/shop/poison: evaluating it ended the evaluator twice (signal SIGKILL)"
    assert _restarts(evaluator, "died") == 2  # the batch's child, then poison's own
    # and the next evaluator goes on
    assert _rows(evaluator.objects(items[:1], namespaces={})) == [
        {("require-team-label", "team-label", "web", "fail")}
    ]
    evaluator.close()


def test_objects_in_flight_when_the_evaluator_dies_once_are_evaluated_in_the_next(policy_file, poisoned):
    poisoned["once"] = True
    evaluator = _evaluator(policy_file, per_child=100)
    items = [
        (deployment("web", "shop"), "shop"),
        (deployment("poison", "shop", labels={"team": "x"}), "shop"),
    ]

    found = evaluator.objects(items, namespaces={})

    assert _rows(found) == [
        {("require-team-label", "team-label", "web", "fail")},
        {("require-team-label", "team-label", "poison", "pass")},
    ]
    assert _restarts(evaluator, "died") == 1
    evaluator.close()


def test_set_level_rules_that_kill_the_evaluator_twice_give_each_object_of_the_namespace_an_error(
    policy_file, monkeypatch
):
    def evaluate(policies, bodies, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    monkeypatch.setattr(evaluating, "evaluate_namespace", evaluate)
    evaluator = _evaluator(policy_file, per_child=100)

    found = evaluator.namespace(
        [deployment("web", "shop"), budget("web", "shop")],
        namespace="shop",
        namespace_object=namespace("shop"),
        now=NOW,
    )

    assert [(r.policy, r.rule, r.resource.display, str(r.verdict), r.code) for r in found] == [
        ("leitplanke-agent", "set-level-rules", "Deployment/shop/web", "error", "evaluator-died"),
        ("leitplanke-agent", "set-level-rules", "PodDisruptionBudget/shop/web", "error", "evaluator-died"),
    ]
    assert found[0].message == (
        "Deployment/shop/web: the set-level rules of namespace 'shop' ended the evaluator twice (signal SIGKILL)"
    )
    assert _restarts(evaluator, "died") == 2
    evaluator.close()


def test_the_small_cluster_gets_the_same_set_level_verdicts_both_ways(policy_file):
    bodies = small_cluster()[2:]
    both = []
    for per_child in (0, 100):
        evaluator = _evaluator(policy_file, per_child=per_child)
        found = evaluator.namespace(bodies[:2], namespace="shop", namespace_object=None, now=NOW)
        both.append(sorted(found, key=Result.sort_key))
        evaluator.close()

    assert both[0] == both[1]
    assert {(r.rule, r.resource.name, str(r.verdict)) for r in both[0]} == {
        ("budget", "web", "fail"),
        ("budget", "api", "fail"),
    }


def test_an_object_whose_evaluation_raises_in_the_evaluator_gets_an_error_naming_it(policy_file, monkeypatch):
    original = evaluating.evaluate_objects

    def evaluate(policies, items, namespaces, *, cluster_name):
        if any(body["metadata"]["name"] == "poison" for body, _ in items):
            raise RecursionError("too deep")
        return original(policies, items, namespaces, cluster_name=cluster_name)

    monkeypatch.setattr(evaluating, "evaluate_objects", evaluate)
    evaluator = _evaluator(policy_file, per_child=100)

    found = evaluator.objects(
        [(deployment("poison", "shop"), "shop"), (deployment("web", "shop"), "shop")], namespaces={}
    )

    assert _rows(found) == [
        {("leitplanke-agent", "evaluation", "poison", "error")},
        {("require-team-label", "team-label", "web", "fail")},
    ]
    assert found[0].results[0].message == (
        "Deployment/shop/poison: evaluating it ended the evaluator twice (exit code 1)"
    )
    evaluator.close()


def test_objects_of_a_batch_no_evaluator_could_take_are_evaluated_at_the_next_try(
    kube, start_agent, policy_file, monkeypatch
):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    original = evaluating.Evaluator.objects
    refused: list[int] = []

    def objects(evaluator, items, **kwargs):
        if not refused:
            refused.append(len(items))
            raise OSError(11, "Resource temporarily unavailable")  # as a fork that fails
        return original(evaluator, items, **kwargs)

    monkeypatch.setattr(evaluating.Evaluator, "objects", objects)
    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",))

    assert agent.wait_for_flush()
    assert refused and refused[0] >= 1
    assert report_rows(state, ns="shop") == {
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/web", "fail"),
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/api", "pass"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/web", "fail"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/api", "fail"),
    }
    assert agent.figures.objects._value.get() == 6
