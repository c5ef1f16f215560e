"""The evaluators' zygote: forked before the agent grows, it forks each evaluator, so that an evaluator
holds none of what the agent allocated since; it reports how each ended (exactly), compiles new
policies itself, and is replaced when it dies, with no object lost."""

from __future__ import annotations

import ctypes
import errno
import os
import signal
from datetime import UTC, datetime
from pathlib import Path

import kubeservers
import pytest

from conftest import deployment, eventually, report_rows, small_cluster
from leitplanke.agent import assessing, evaluating, forking, inventories, metrics

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MIB = 1 << 20

WEB = (deployment("web", "shop"), "shop")
API = (deployment("api", "shop", labels={"team": "shop"}), "shop")
EXPECTED = [
    {("require-team-label", "team-label", "web", "fail")},
    {("require-team-label", "team-label", "api", "pass")},
]


def _evaluator(policy_file: Path, *, per_child: int = 100) -> evaluating.Evaluator:
    policies = assessing.load_policies(paths=[str(policy_file)], packs=["none"], now=NOW)
    evaluator = evaluating.Evaluator(
        policies=policies, cluster_name="test", figures=metrics.build_metrics(), per_child=per_child
    )
    evaluator.start()
    return evaluator


def _rows(verdicts: list[inventories.Verdicts]) -> list[set[tuple[str, str, str, str]]]:
    return [
        {(r.policy, r.rule, r.resource.name, str(r.verdict)) for r in found.results}
        | {(p[0], p[1], found.resource.name if found.resource else "", "pass") for p in found.passes}
        for found in verdicts
    ]


def _restarts(evaluator: evaluating.Evaluator) -> dict[str, float]:
    counter = evaluator.figures.evaluator_restarts
    return {
        reason: counter.labels(reason)._value.get() for reason in ("recycled", "died", "policies", "zygote")
    }


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])


def _running(pid: int) -> bool:
    """``pid`` exists and has not ended (a zombie has)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def _maps(pid: int, address: int) -> bool:
    """Whether ``address`` is in ``pid``'s address space."""
    for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
        start, end = (int(part, 16) for part in line.split()[0].split("-"))
        if start <= address < end:
            return True
    return False


def _rollup_kib(pid: int) -> dict[str, int]:
    """``/proc/<pid>/smaps_rollup``: Rss, Pss, Shared_*, Private_* in KiB."""
    lines = Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
    return {line.split(":")[0]: int(line.split()[1]) for line in lines}


def test_an_evaluator_forked_after_the_agent_grew_holds_none_of_what_it_grew(policy_file):
    evaluator = _evaluator(policy_file)
    assert evaluator.zygote is not None
    zygote = evaluator.zygote.pid
    # 200 MiB written by the agent after the zygote started: every page resident in the agent
    grown = bytearray(200 * MIB)
    grown[::4096] = b"\x01" * len(range(0, len(grown), 4096))
    address = ctypes.addressof((ctypes.c_char * len(grown)).from_buffer(grown))

    assert _rows(evaluator.objects([WEB, API], namespaces={})) == EXPECTED

    assert evaluator.child is not None
    child = evaluator.child.pid
    assert _parent(child) == zygote and _parent(zygote) == os.getpid()
    assert _maps(os.getpid(), address)  # forked from the agent, the child would have it too
    assert not _maps(child, address) and not _maps(zygote, address)
    agent, forked = _rollup_kib(os.getpid()), _rollup_kib(child)
    assert agent["Rss"] >= 200 * 1024
    # nothing of the 200 MiB in the child's pages, shared or private
    assert forked["Rss"] + 180 * 1024 < agent["Rss"]
    assert forked["Private_Dirty"] + forked["Private_Clean"] < 100 * 1024
    evaluator.close()
    del grown
    assert not _running(zygote) and not _running(child)


def test_a_zygote_that_dies_is_replaced_and_the_objects_the_evaluator_held_are_evaluated(policy_file):
    evaluator = _evaluator(policy_file)
    assert _rows(evaluator.objects([WEB], namespaces={})) == EXPECTED[:1]
    assert evaluator.zygote is not None and evaluator.child is not None
    zygote, child = evaluator.zygote.pid, evaluator.child.pid

    os.kill(zygote, signal.SIGKILL)
    eventually(lambda: not _running(child))  # the evaluator ends with its zygote

    assert _rows(evaluator.objects([WEB, API], namespaces={})) == EXPECTED
    assert evaluator.zygote is not None and evaluator.zygote.pid != zygote
    assert evaluator.child is not None and _parent(evaluator.child.pid) == evaluator.zygote.pid
    assert _restarts(evaluator) == {"recycled": 0, "died": 1, "policies": 0, "zygote": 1}
    evaluator.close()


def test_a_zygote_that_died_between_evaluators_is_replaced_at_the_next_fork(policy_file):
    evaluator = _evaluator(policy_file, per_child=2)
    assert _rows(evaluator.objects([WEB, API], namespaces={})) == EXPECTED
    assert evaluator.child is None and evaluator.zygote is not None  # recycled after its two
    zygote = evaluator.zygote.pid

    os.kill(zygote, signal.SIGKILL)
    eventually(lambda: not _running(zygote))

    assert _rows(evaluator.objects([API], namespaces={})) == EXPECTED[1:]
    assert evaluator.zygote is not None and evaluator.zygote.pid != zygote
    assert _restarts(evaluator) == {"recycled": 1, "died": 0, "policies": 0, "zygote": 1}
    evaluator.close()


@pytest.mark.parametrize(
    ("ending", "said"),
    [
        (lambda: os._exit(7), "exit code 7"),
        (lambda: os.kill(os.getpid(), signal.SIGTERM), "signal SIGTERM"),
        (lambda: os.kill(os.getpid(), signal.SIGHUP), "signal SIGHUP"),
    ],
    ids=["exit-7", "sigterm", "sighup"],
)
def test_how_an_evaluator_ended_is_reported_exactly(policy_file, monkeypatch, ending, said):
    original = evaluating.evaluate_objects

    def evaluate(policies, items, namespaces, *, cluster_name):
        if any(body["metadata"]["name"] == "poison" for body, _ in items):
            ending()
        return original(policies, items, namespaces, cluster_name=cluster_name)

    monkeypatch.setattr(evaluating, "evaluate_objects", evaluate)  # before the zygote forks
    evaluator = _evaluator(policy_file)

    found = evaluator.objects([(deployment("poison", "shop"), "shop"), WEB], namespaces={})

    assert _rows(found) == [{("leitplanke-agent", "evaluation", "poison", "error")}, *EXPECTED[:1]]
    assert found[0].results[0].message == (
        f"Deployment/shop/poison: evaluating it ended the evaluator twice ({said})"
    )
    assert _restarts(evaluator) == {"recycled": 0, "died": 2, "policies": 0, "zygote": 0}
    evaluator.close()


def test_a_fork_the_zygote_could_not_make_fails_as_a_fork_in_the_agent_would(
    policy_file, monkeypatch, tmp_path
):
    original, refused = forking._fork_child, tmp_path / "refused"

    def fork_child(*args, **kwargs):
        if not refused.exists():  # the first time only (the zygote is another process: a file says it)
            refused.touch()
            raise OSError(errno.EAGAIN, "Resource temporarily unavailable")
        return original(*args, **kwargs)

    monkeypatch.setattr(forking, "_fork_child", fork_child)  # before the zygote forks
    evaluator = _evaluator(policy_file)
    assert evaluator.zygote is not None
    zygote = evaluator.zygote.pid

    with pytest.raises(OSError) as refusal:
        evaluator.objects([WEB], namespaces={})

    assert (refusal.value.errno, refusal.value.strerror) == (
        errno.EAGAIN,
        "the zygote could not fork: Resource temporarily unavailable",
    )
    assert _rows(evaluator.objects([WEB], namespaces={})) == EXPECTED[:1]
    assert evaluator.zygote.pid == zygote
    assert _restarts(evaluator) == {"recycled": 0, "died": 0, "policies": 0, "zygote": 0}
    evaluator.close()


def _owner_policies(policy_file: Path, tmp_path: Path) -> assessing.Policies:
    other = tmp_path / "other.yaml"
    other.write_text(
        policy_file.read_text().replace("'team' in", "'owner' in").replace("require-team", "require-owner")
    )
    return assessing.load_policies(paths=[str(other)], packs=["none"], now=NOW)


def test_new_policies_are_compiled_by_the_zygote_itself(policy_file, tmp_path):
    evaluator = _evaluator(policy_file)
    assert _rows(evaluator.objects([API], namespaces={})) == EXPECTED[1:]
    assert evaluator.zygote is not None
    zygote = evaluator.zygote.pid

    evaluator.replace(_owner_policies(policy_file, tmp_path))

    assert _rows(evaluator.objects([API], namespaces={})) == [
        {("require-owner-label", "team-label", "api", "fail")}
    ]
    assert evaluator.zygote is not None and evaluator.zygote.pid == zygote
    assert _restarts(evaluator) == {"recycled": 0, "died": 0, "policies": 1, "zygote": 0}
    evaluator.close()


def test_a_zygote_that_cannot_compile_the_new_policies_is_replaced_by_one_with_the_agents(
    policy_file, tmp_path
):
    evaluator = _evaluator(policy_file)
    assert evaluator.zygote is not None
    zygote = evaluator.zygote.pid
    policies = _owner_policies(policy_file, tmp_path)
    (tmp_path / "other.yaml").unlink()  # gone after the agent read it: the zygote's compile fails

    evaluator.replace(policies)

    assert _rows(evaluator.objects([API], namespaces={})) == [
        {("require-owner-label", "team-label", "api", "fail")}
    ]
    assert evaluator.zygote is not None and evaluator.zygote.pid != zygote
    assert not _running(zygote)
    evaluator.close()


def test_the_agent_forks_the_zygote_when_it_starts_and_ends_it_when_it_stops(kube, start_agent, policy_file):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",))
    assert agent.processor is not None and agent.processor.evaluator.zygote is not None
    zygote = agent.processor.evaluator.zygote.pid
    assert _parent(zygote) == os.getpid()

    agent.stop()

    assert not _running(zygote)


def test_an_agent_whose_zygote_died_evaluates_the_next_changes_with_a_new_one(kube, start_agent, policy_file):
    state, server = kube
    kubeservers.seed(state, small_cluster())
    agent = start_agent(server, policy_paths=(str(policy_file),), packs=("none",))
    assert agent.wait_for_flush()
    assert agent.processor is not None and agent.processor.evaluator.zygote is not None
    zygote = agent.processor.evaluator.zygote.pid
    assert agent.processor.evaluator.child is not None
    child = agent.processor.evaluator.child.pid

    os.kill(zygote, signal.SIGKILL)
    eventually(lambda: not _running(zygote) and not _running(child))  # its evaluator ends with it
    state.put(deployment("web", "shop", labels={"team": "shop"}))
    state.put(deployment("etl", "data"))

    eventually(
        lambda: (
            {
                ("leitplanke-agent", "require-team-label", "team-label", "Deployment/web", "pass"),
                ("leitplanke-agent", "require-team-label", "team-label", "Deployment/etl", "fail"),
            }
            <= (report_rows(state, ns="shop") | report_rows(state, ns="data"))
        )
    )
    assert report_rows(state, ns="shop") == {
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/web", "pass"),
        ("leitplanke-agent", "require-team-label", "team-label", "Deployment/api", "pass"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/web", "fail"),
        ("leitplanke-agent", "require-budget", "budget", "Deployment/api", "fail"),
    }
    assert agent.figures.evaluator_restarts.labels("zygote")._value.get() == 1
    assert agent.processor.evaluator.zygote is not None and agent.processor.evaluator.zygote.pid != zygote
    assert not _running(zygote)
