"""Benchmark of the cluster agent: time to the first complete set of PolicyReports, evaluations/s under a
stream of changes, peak RSS.

    PYTHONPATH=src python bench/agent_bench.py --objects 50000 --namespaces 500 --rate 200 --seconds 60

The test API server (tests/agent/kubeservers.py) runs in a child process, seeded with OBJECTS copies of
the real objects of ../shared/bench/seeds.json.gz (a unique name each, spread over NAMESPACES
namespaces); this process runs the agent (default packs, no upload), which forks the evaluators'
zygote, which forks the evaluator: they are what the RSS and PSS figures measure (the tree's peak
sampled every 5 s). Then RATE changes per second (a label toggled on a random object) for SECONDS
seconds, or WATCH_MINUTES minutes with the RSS and PSS of the tree every minute:

    PYTHONPATH=src python bench/agent_bench.py --objects 10000 --rate 50 --watch-minutes 30

Prints one JSON object of figures. No real API server is involved.
"""

from __future__ import annotations

import argparse
import copy
import json
import multiprocessing
import os
import random
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
sys.path.insert(0, str(REPO / "tests" / "agent"))

import kubeservers  # noqa: E402


def build_objects(count: int, namespaces: int, *, seed: int) -> list[dict[str, Any]]:
    """``count`` copies of the real seed objects, each with a unique name, in ``namespaces`` namespaces."""
    seeds = [
        d
        for d in kubeservers.seed_documents(SHARED)
        if isinstance(d.get("metadata"), dict)
        and d["metadata"].get("name")
        and "/" not in str(d.get("kind"))
        and d.get("kind") not in ("Namespace", "List", "CustomResourceDefinition")
    ]
    chooser = random.Random(seed)
    objects = []
    for index in range(count):
        obj = copy.deepcopy(chooser.choice(seeds))
        metadata = obj["metadata"]
        metadata["name"] = f"{str(metadata['name'])[:40]}-{index}"
        metadata["namespace"] = f"ns-{index % namespaces:03}"
        metadata.setdefault("labels", {})["bench"] = "1"
        objects.append(obj)
    return objects


def serve(connection: Any, count: int, namespaces: int, seed: int) -> None:
    """The child: seed, serve, then churn when told; answers each command on ``connection``."""
    state = kubeservers.State(bookmark_seconds=5.0)
    objects = build_objects(count, namespaces, seed=seed)
    kubeservers.seed(state, objects)
    keys = [(o["apiVersion"], o["kind"], o["metadata"]["namespace"], o["metadata"]["name"]) for o in objects]
    del objects
    with kubeservers.running(state) as server:
        connection.send((server.url, len(keys)))
        while True:
            command = connection.recv()
            if command[0] == "stop":
                return
            rate, seconds = command[1], command[2]
            connection.send(_churn(state, keys, rate=rate, seconds=seconds, seed=seed))


def _churn(
    state: kubeservers.State, keys: list[tuple[str, str, str, str]], *, rate: int, seconds: float, seed: int
) -> int:
    chooser = random.Random(seed + 1)
    changed = 0
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        api_version, kind, namespace, name = chooser.choice(keys)
        group = api_version.rpartition("/")[0]
        with state.changed:
            kind_type = state.types[(group, kubeservers.plural(kind))]
            obj = state.objects.get(
                (group, kind_type.resource, namespace if kind_type.namespaced else "", name)
            )
            if obj is None:
                continue
            body = copy.deepcopy(obj)
        labels = body["metadata"].setdefault("labels", {})
        labels["bench"] = str(int(labels.get("bench", "0")) + 1)
        state.put(body)
        changed += 1
        # paced: ``changed`` changes by now
        ahead = changed / rate - (time.monotonic() - start)
        if ahead > 0:
            time.sleep(ahead)
    return changed


def rss_mib(pid: int | str = "self") -> float:
    return _field_mib(f"/proc/{pid}/status", "VmRSS:")


def _field_mib(path: str, name: str) -> float:
    try:
        lines = Path(path).read_text().splitlines()
    except OSError:  # the process ended meanwhile
        return 0.0
    for line in lines:
        if line.startswith(name):
            return int(line.split()[1]) / 1024
    return 0.0


def descendants(pid: int, *, besides: int) -> list[int]:
    """The processes under ``pid`` (children, grandchildren, …) but ``besides`` and its own."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:  # a thread or process that ended meanwhile
            continue
        for child in map(int, children):
            if child != besides:
                found += [child, *descendants(child, besides=besides)]
    return found


def tree(*, besides: int) -> dict[str, Any]:
    """The RSS and PSS of this process and all under it but ``besides`` (the API server): the agent,
    the evaluators' zygote and the evaluator. RSS counts the pages they share (copy-on-write) twice;
    PSS splits them."""
    own = os.getpid()
    children = descendants(own, besides=besides)
    processes = [own, *children]
    pss = [_field_mib(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in processes]
    return {
        "rss_mib": round(sum(rss_mib(pid) for pid in processes), 1),
        "pss_mib": round(sum(pss), 1),
        "evaluator_rss_mib": round(sum(rss_mib(pid) for pid in children), 1),
        # the agent's first, then the zygote's and the evaluator's (or the evaluator's alone)
        "pss_mib_by_process": [round(value, 1) for value in pss],
    }


class Peaks:
    """The tree's largest PSS and RSS, sampled every ``seconds`` on a thread of its own."""

    def __init__(self, *, besides: int, seconds: float = 5.0) -> None:
        self.besides, self.seconds = besides, seconds
        self.pss_mib = self.rss_mib = 0.0
        self.at_peak: dict[str, Any] = {}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        while not self.stopping.wait(self.seconds):
            found = tree(besides=self.besides)
            if found["pss_mib"] > self.pss_mib:
                self.pss_mib, self.at_peak = found["pss_mib"], found
            self.rss_mib = max(self.rss_mib, found["rss_mib"])

    def stop(self) -> dict[str, Any]:
        self.stopping.set()
        self.thread.join()
        return {
            "peak_tree_pss_mib": self.pss_mib,
            "peak_tree_rss_mib": self.rss_mib,
            "pss_mib_by_process_at_peak": self.at_peak.get("pss_mib_by_process", []),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=50_000)
    parser.add_argument("--namespaces", type=int, default=500)
    parser.add_argument("--rate", type=int, default=200, help="changes per second")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long the changes come")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--watch-minutes",
        type=float,
        default=0.0,
        help="changes come this long instead of --seconds; the tree's memory is sampled every minute",
    )
    parser.add_argument("--evaluations-per-worker", type=int, default=20_000, help="0: in-process")
    args = parser.parse_args()
    seconds = args.watch_minutes * 60 if args.watch_minutes else args.seconds

    context = multiprocessing.get_context("fork")
    ours, theirs = context.Pipe()
    child = context.Process(
        target=serve, args=(theirs, args.objects, args.namespaces, args.seed), daemon=True
    )
    child.start()
    url, seeded = ours.recv()

    from leitplanke.agent import running  # after the fork: the child holds none of the agent
    from leitplanke.sources import cluster

    folder = Path(f"/tmp/agent-bench-{child.pid}")
    folder.mkdir(exist_ok=True)
    config = folder / "kubeconfig"
    config.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "bench",
                "clusters": [{"name": "bench", "cluster": {"server": url}}],
                "users": [{"name": "agent", "user": {"token": kubeservers.TOKEN}}],
                "contexts": [{"name": "bench", "context": {"cluster": "bench", "user": "agent"}}],
            }
        )
    )
    agent = running.Agent(
        running.Options(
            cluster_name="bench",
            flush_seconds=2.0,
            watch_timeout_seconds=3600,
            evaluations_per_worker=args.evaluations_per_worker,
        ),
        connection=cluster.connect(kubeconfig=str(config)),
    )
    peaks = Peaks(besides=child.pid)
    started = time.monotonic()
    agent.start()
    complete = agent.wait_for_flush(timeout=7200)
    first_reports = time.monotonic() - started
    evaluations_before = agent.figures.evaluations._value.get()
    rss_before = rss_mib()
    memory = [{"minute": 0, **tree(besides=child.pid)}]
    if args.watch_minutes:
        print(json.dumps(memory[-1]), file=sys.stderr, flush=True)
    depth: list[float] = []
    sampling = threading.Event()

    def sample() -> None:
        while not sampling.wait(1.0):
            depth.append(agent.figures.queue_depth._value.get())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    churn_started = time.monotonic()
    ours.send(("churn", args.rate, seconds))
    while not ours.poll(max(0.0, churn_started + 60 * len(memory) - time.monotonic())):
        memory.append({"minute": len(memory), **tree(besides=child.pid)})
        if args.watch_minutes:
            print(json.dumps(memory[-1]), file=sys.stderr, flush=True)
    changed = ours.recv()
    churn_seconds = time.monotonic() - churn_started
    completed = agent.processor.completed if agent.processor else 0
    agent.wait_for_flush(after=completed, timeout=3600)
    drained = time.monotonic() - churn_started
    sampling.set()
    evaluations = agent.figures.evaluations._value.get() - evaluations_before
    peak = peaks.stop()
    figures = {
        "objects": seeded,
        "namespaces": args.namespaces,
        "complete": complete,
        "seconds_to_first_complete_reports": round(first_reports, 1),
        "objects_evaluated_first": int(evaluations_before),
        "changes_sent": changed,
        "changes_per_second_sent": round(changed / churn_seconds, 1),
        "evaluations_during_changes": int(evaluations),
        "evaluations_per_second": round(evaluations / drained, 1),
        "seconds_until_drained": round(drained, 1),
        "max_queue_depth": max(depth, default=0),
        "report_writes": int(agent.figures.report_writes.labels("apply")._value.get()),
        "rss_mib_after_first_reports": round(rss_before, 1),
        "rss_mib_after_changes": round(rss_mib(), 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # the agent, the zygote and the evaluator, sampled every 5 s from the agent's start
        **peak,
        "evaluations_per_worker": args.evaluations_per_worker,
        "evaluator_restarts": {
            reason: int(agent.figures.evaluator_restarts.labels(reason)._value.get())
            for reason in ("recycled", "died", "policies", "zygote")
        },
        # the agent and its evaluator: at the first reports (minute 0), then every minute of changes
        "tree_memory": [*memory, {"minute": round(drained / 60, 1), **tree(besides=child.pid)}],
    }
    agent.stop()
    ours.send(("stop",))
    child.join(timeout=30)
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
