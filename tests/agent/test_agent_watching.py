"""Listing and watching against the test API server: pages of ``limit`` joined by ``continue``, watches
from the list's resourceVersion with bookmarks, a relist after 410 Gone, back-off on 429 (Retry-After)
and 500, discovery of every served type (custom resources too) minus the exclusions, and no second
evaluation of an object whose resourceVersion did not change."""

from __future__ import annotations

import threading
import time

import kubeservers

from conftest import deployment, eventually, report_rows, small_cluster
from leitplanke.agent import discovering, metrics, watching
from leitplanke.sources import cluster


def _connection(server, tmp_path):
    return cluster.connect(kubeconfig=str(server.kubeconfig(tmp_path)))


def test_discovery_finds_every_listable_type_of_every_group_minus_the_exclusions(kube, tmp_path):
    state, server = kube
    kubeservers.seed(
        state,
        [
            {"apiVersion": "example.com/v1beta1", "kind": "Widget", "metadata": {"name": "w"}},
            {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "v"}},
        ],
    )

    found = discovering.discover(_connection(server, tmp_path))

    assert [(t.api_version, t.resource, t.namespaced) for t in found] == [
        ("v1", "configmaps", True),
        ("v1", "namespaces", False),
        ("v1", "nodes", False),
        ("v1", "pods", True),
        ("v1", "secrets", True),
        ("v1", "serviceaccounts", True),
        ("v1", "services", True),
        ("apps/v1", "daemonsets", True),
        ("apps/v1", "deployments", True),
        ("apps/v1", "replicasets", True),
        ("apps/v1", "statefulsets", True),
        ("autoscaling/v2", "horizontalpodautoscalers", True),
        ("example.com/v1", "widgets", True),
        ("policy/v1", "poddisruptionbudgets", True),
    ]


def test_a_list_is_read_in_pages_of_limit_joined_by_continue(kube, tmp_path):
    state, server = kube
    kubeservers.seed(state, [deployment(f"d{n:02}", "shop") for n in range(25)])
    changes: list[watching.Change] = []
    served = discovering.ServedType("apps", "v1", "deployments", "Deployment", True)
    watch = watching.Watch(
        connection=_connection(server, tmp_path),
        served=served,
        emit=changes.append,
        stop=threading.Event(),
        figures=metrics.build_metrics(),
        page=10,
    )

    version = watching.list_type(watch)

    lists = [q for method, path, q in state.requests if path == "/apis/apps/v1/deployments"]
    assert [q["limit"] for q in lists] == ["10", "10", "10"]
    assert ["continue" in q for q in lists] == [False, True, True]
    assert [c.body["metadata"]["name"] for c in changes[:-1]] == [f"d{n:02}" for n in range(25)]
    assert changes[-1].event == watching.SYNCED
    assert changes[-1].seen == {("shop", f"d{n:02}") for n in range(25)}
    assert version == str(state.revision)


def test_the_watch_starts_at_the_lists_resource_version_with_bookmarks_and_delivers_each_change(
    kube, tmp_path
):
    state, server = kube
    kubeservers.seed(state, [deployment("web", "shop")])
    changes: list[watching.Change] = []
    stop = threading.Event()
    served = discovering.ServedType("apps", "v1", "deployments", "Deployment", True)
    watch = watching.Watch(
        connection=_connection(server, tmp_path),
        served=served,
        emit=changes.append,
        stop=stop,
        figures=metrics.build_metrics(),
        timeout_seconds=5,
    )
    thread = threading.Thread(target=watching.watch_type, args=(watch,), daemon=True)
    thread.start()
    listed = state.revision
    eventually(lambda: any(c.event == watching.SYNCED for c in changes))

    state.put(deployment("api", "shop"))
    state.put(deployment("web", "shop", labels={"team": "shop"}))
    state.remove("apps/v1", "Deployment", "shop", "api")

    eventually(lambda: [c.event for c in changes][2:] == ["ADDED", "MODIFIED", "DELETED"])
    stop.set()
    watches = [q for _, path, q in state.requests if path == "/apis/apps/v1/deployments" and q.get("watch")]
    assert watches[0] == {
        "resourceVersion": str(listed),
        "allowWatchBookmarks": "true",
        "timeoutSeconds": "5",
        "watch": "1",
    }
    assert [c.body["metadata"]["name"] for c in changes[2:]] == ["api", "web", "api"]


def test_a_410_gone_lists_again_and_what_changed_meanwhile_is_seen(kube, start_agent, policy_file):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",))
    agent.wait_for_flush()

    with state.changed:  # a change no watch sees: the server restarts and forgets it, only a list shows it
        state.put(deployment("web", "shop", labels={"team": "shop"}))
        state.compact()

    eventually(
        lambda: (
            ("leitplanke-agent", "require-team-label", "team-label", "Deployment/web", "pass")
            in report_rows(state, ns="shop")
        )
    )
    assert agent.figures.api_errors.labels("410")._value.get() >= 1


def test_429_with_retry_after_and_500_are_retried_after_a_pause(kube, start_agent, policy_file):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    state.fail("GET", "/apis/apps/v1/deployments", 429, retry_after=1)
    state.fail("GET", "/apis/apps/v1/deployments", 500)
    started = time.monotonic()

    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",))

    assert agent.wait_for_flush()
    assert time.monotonic() - started >= 1.0  # Retry-After: 1 was honoured
    assert agent.figures.api_errors.labels("429")._value.get() == 1
    assert agent.figures.api_errors.labels("500")._value.get() == 1
    lists = [
        path for method, path, q in state.requests if path == "/apis/apps/v1/deployments" and "watch" not in q
    ]
    assert len(lists) == 3
    assert report_rows(state, ns="data") == {
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/etl", "pass"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/etl", "pass"),
    }


def test_an_object_seen_again_with_the_same_resource_version_is_not_evaluated_again(
    kube, start_agent, policy_file
):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",))
    agent.wait_for_flush()
    evaluated = agent.figures.evaluations._value.get()
    writes = agent.figures.report_writes.labels("apply")._value.get()
    assert evaluated == 6  # 3 Deployments, 1 budget, 2 Namespaces

    state.compact()  # every type is listed again: the same objects, the same resourceVersions
    eventually(lambda: agent.figures.api_errors.labels("410")._value.get() >= 8)
    time.sleep(1.0)

    assert agent.figures.evaluations._value.get() == evaluated
    assert agent.figures.report_writes.labels("apply")._value.get() == writes


def test_a_type_the_agent_may_not_list_is_given_up_and_the_reports_do_not_wait_for_it(
    kube, start_agent, policy_file
):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    state.fail("GET", "/api/v1/configmaps", 403, times=1000)

    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",))

    assert agent.wait_for_flush()
    assert agent.figures.api_errors.labels("403")._value.get() == 1
    assert len(report_rows(state, ns="shop")) == 4


def test_a_watch_waits_while_the_change_queue_is_full_and_stops_waiting_when_the_agent_stops():
    """The queue between the watches and the processing thread is bounded: changes beyond
    ``QUEUE_LIMIT`` wait in the watch (the API server keeps them), not in the agent's memory."""
    from leitplanke.agent import running

    agent = running.Agent(options=running.Options(cluster_name="test"))
    served = discovering.ServedType("apps", "v1", "deployments", "Deployment", namespaced=True)
    for index in range(running.QUEUE_LIMIT):
        agent._emit(watching.Change(served, watching.MODIFIED, {"metadata": {"name": f"d{index}"}}))
    assert agent.changes.qsize() == running.QUEUE_LIMIT == 1024
    extra = watching.Change(served, watching.MODIFIED, {"metadata": {"name": "one-more"}})
    waiting = threading.Thread(target=agent._emit, args=(extra,))
    waiting.start()
    time.sleep(0.7)
    assert waiting.is_alive() and agent.changes.qsize() == running.QUEUE_LIMIT
    agent.changes.get_nowait()  # the processing thread takes one: the waiting change goes in
    waiting.join(timeout=2)
    assert not waiting.is_alive()
    assert agent.changes.qsize() == running.QUEUE_LIMIT
    late = threading.Thread(target=agent._emit, args=(extra,))
    late.start()
    agent.stop_event.set()
    late.join(timeout=2)
    assert not late.is_alive() and agent.changes.qsize() == running.QUEUE_LIMIT
