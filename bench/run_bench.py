"""`make bench`: scan speed and memory on generated corpora, against a parse-only pass and checkov.

Generates corpora with ../shared/bench/gen_corpus.py (1k, 3k, 10k, 30k resources,
seed 1), scans each with every built-in pack in a child process, samples the
resident memory of the whole process tree, and prints one table; then the latency of
evaluating one typical Deployment through ``engine.evaluate`` (``--single-only``: that part
alone), after the 10k corpus parsed only by every YAML parser on record (``parse_only``).
``--baseline REV`` also checks REV out (a detached git worktree in the work folder) and
measures the 10k scan and the single document of both trees in turn, side by side.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import parse_only  # beside this script

SIZES = (1000, 3000, 10000, 30000)
PARSE_ONLY = """
import sys, yaml, glob
n = 0
for f in sorted(glob.glob(sys.argv[1] + '/*.yaml')):
    with open(f, 'rb') as fh:
        n += sum(1 for d in yaml.load_all(fh, Loader=yaml.CSafeLoader) if d)
print(n)
"""


def generate(shared: Path, work: Path, count: int) -> Path:
    out = work / f"gen{count}"
    if not (out / ".done").exists():
        subprocess.run(
            [
                sys.executable,
                str(shared / "bench" / "gen_corpus.py"),
                "--out",
                str(out),
                "--count",
                str(count),
                "--seed",
                "1",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        (out / ".done").write_text("ok")
    return out


def _tree_memory_kb(root: int) -> tuple[int, int]:
    """(proportional set size of the process tree, largest resident set of one process) in kB.

    The tree's PSS counts the pages forked workers share with their parent once, where a
    sum of resident sets would count them in every process. Walks the tree through
    /proc/PID/task/TID/children and reads only its members: the sampler must not take CPU
    from the two cores the measured scan runs on.
    """
    total, largest, stack = 0, 0, [root]
    while stack:
        pid = stack.pop()
        try:
            fields = dict(
                line.split(":", 1) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]
            )
            for task in os.listdir(f"/proc/{pid}/task"):
                stack.extend(int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split())
        except (OSError, ValueError):
            continue  # the process ended between two reads
        total += int(fields["Pss"].split()[0])
        largest = max(largest, int(fields["Rss"].split()[0]))
    return total, largest


Figures = dict[str, float]


def measured_pair(first: list[str], second: list[str], repeat: int) -> tuple[Figures, Figures]:
    """``measured_in_turn`` of two commands."""
    a, b = measured_in_turn([(first, None), (second, None)], repeat)
    return a, b


Command = tuple[list[str], dict[str, str] | None]  # argv, and the environment if not this one


def measured_in_turn(commands: list[Command], repeat: int) -> list[Figures]:
    """Wall times: the median of ``repeat`` runs of each command, the commands taken in turn,
    so that a machine speeding up or slowing down (this one swings by ±30% within minutes)
    moves all alike and their ratios less; nothing else runs meanwhile. Memory: one more run
    of each, sampled (the sampler takes some CPU)."""
    walls: list[list[float]] = [[] for _ in commands]
    for _ in range(repeat):
        for (cmd, env), times in zip(commands, walls, strict=True):
            times.append(measure(cmd, sample=False, env=env)["wall"])
    return [
        {**measure(cmd, sample=True, env=env), "wall": sorted(times)[len(times) // 2]}
        for (cmd, env), times in zip(commands, walls, strict=True)
    ]


def measure(
    cmd: list[str],
    *,
    stdout: int | None = subprocess.DEVNULL,
    sample: bool = True,
    env: dict[str, str] | None = None,
) -> dict[str, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, env=env)
    peak = {"total": 0, "largest": 0}
    done = threading.Event()

    def sample_memory() -> None:
        while not done.is_set():
            total, largest = _tree_memory_kb(proc.pid)
            peak["total"] = max(peak["total"], total)
            peak["largest"] = max(peak["largest"], largest)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample_memory, daemon=True)
    if sample:
        sampler.start()
    out, err = proc.communicate()
    done.set()
    if sample:
        sampler.join()
    wall = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(cmd)} exited {proc.returncode}: {err.decode()[-2000:]}")
    return {
        "wall": wall,
        "peak_total_mb": peak["total"] / 1024,
        "peak_largest_mb": peak["largest"] / 1024,
        "stdout": out.decode() if out else "",
    }  # type: ignore[dict-item]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shared", default="../shared")
    parser.add_argument("--work", default="build/bench")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)))
    parser.add_argument("--checkov-max", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=3, help="runs per size up to 10k (median)")
    parser.add_argument("--single-only", action="store_true", help="only the single-document figures")
    parser.add_argument(
        "--candidate-python", default=sys.executable, help="interpreter with candidate YAML parsers"
    )
    parser.add_argument("--single-calls", type=int, default=5000, help="timed calls of the single document")
    parser.add_argument(
        "--baseline", metavar="REV", help="also measure REV (10k scan, single document), before/after"
    )
    args = parser.parse_args()
    shared, work = Path(args.shared).resolve(), Path(args.work).resolve()
    if args.single_only:
        single_document(shared, calls=args.single_calls)
        return
    if not (shared / "bench" / "gen_corpus.py").exists():
        raise SystemExit(f"{shared}/bench/gen_corpus.py not found: run beside ../shared")
    work.mkdir(parents=True, exist_ok=True)
    leitplanke = str(Path(sys.executable).parent / "leitplanke")
    checkov = work / "checkov-venv" / "bin" / "checkov"
    packs = json.loads(
        subprocess.run(
            [leitplanke, "policies", "list", "--all", "--format", "json"], check=True, capture_output=True
        ).stdout
    )
    pack_names = sorted({p["pack"] for p in packs})
    print(
        f"machine: {os.cpu_count()} cores, {platform_line()}; packs: {', '.join(pack_names)} "
        f"({len(packs)} policies, {sum(len(p['rules']) for p in packs)} rules)"
    )
    header = (
        "resources",
        "parse s",
        "scan s",
        "ratio",
        "res/s",
        "evals/s",
        "results/res",
        "evals/res",
        "peak MB (tree PSS)",
        "peak MB (largest RSS)",
        "checkov s",
        "x faster",
    )
    print("\t".join(header))
    for count in (int(s) for s in args.sizes.split(",")):
        corpus = generate(shared, work, count)
        repeat = args.repeat if count <= 10000 else 1
        report_file = work / f"scan{count}.json"
        pack_args = [a for name in pack_names for a in ("--pack", name)]
        parse, scan = measured_pair(
            [sys.executable, "-c", PARSE_ONLY, str(corpus)],
            [leitplanke, "scan", str(corpus), *pack_args, "--format", "json", "--output", str(report_file)],
            repeat,
        )
        summary = json.loads(report_file.read_text())["summary"]
        resources, results = summary["resources"], summary["checks"]
        evaluations = count_evaluations(corpus)  # per rule and forEach item, as checkov counts per entity
        row = [
            count,
            f"{parse['wall']:.2f}",
            f"{scan['wall']:.2f}",
            f"{scan['wall'] / parse['wall']:.2f}",
            f"{resources / scan['wall']:.0f}",
            f"{evaluations / scan['wall']:.0f}",
            f"{results / max(resources, 1):.1f}",
            f"{evaluations / max(resources, 1):.1f}",
            f"{scan['peak_total_mb']:.0f}",
            f"{scan['peak_largest_mb']:.0f}",
        ]
        if checkov.exists() and count <= args.checkov_max:
            peer = measure(
                [
                    str(checkov),
                    "-d",
                    str(corpus),
                    "--framework",
                    "kubernetes",
                    "--quiet",
                    "--compact",
                    "-o",
                    "json",
                    "--skip-download",
                ]
            )
            row += [f"{peer['wall']:.1f}", f"{peer['wall'] / scan['wall']:.0f}"]
        else:
            row += ["-", "-"]
        print("\t".join(str(c) for c in row), flush=True)
    parse_only.print_parsers(generate(shared, work, 10000), candidate_python=args.candidate_python)
    single_document(shared, calls=args.single_calls)
    if args.baseline:
        compared(
            shared, work, args.baseline, pack_args=pack_args, repeat=args.repeat, calls=args.single_calls
        )


SINGLE_SOURCE = "bench/real/GoogleCloudPlatform__microservices-demo/release/kubernetes-manifests.yaml"


def single_document(shared: Path, *, calls: int) -> None:
    """Latency of one evaluation of a typical Deployment (the first of the Online Boutique
    release manifests) against every built-in pack through ``engine.evaluate``, in this
    process: p50, p99, calls/s. A tree from before the public API (``--baseline``) is measured
    through what it had: ``evaluating.evaluate_document`` on ``compiling.compile_policies``."""
    from collections.abc import Callable
    from datetime import UTC, datetime
    from typing import Any

    from leitplanke import engine
    from leitplanke.engine import compiling, evaluating, loading
    from leitplanke.sources import files

    source = shared / SINGLE_SOURCE
    if not source.is_file():
        raise SystemExit(f"{source} not found: run beside ../shared")
    loaded = loading.load_packs(loading.available_packs(), now=datetime.now(UTC))
    document = next(d for d in files.load_path(str(source)) if getattr(d, "kind", "") == "Deployment")
    evaluate: Callable[[], Any]
    if hasattr(engine, "evaluate"):
        policy_set = engine.compile(loaded.policies)
        evaluate = lambda: engine.evaluate(policy_set, document)  # noqa: E731
        results = len(evaluate())
    else:
        compiled, _ = compiling.compile_policies(loaded.policies)
        evaluate = lambda: evaluating.evaluate_document(compiled, document)  # noqa: E731
        results = len(evaluate().results)
    for _ in range(min(calls, 500)):  # warm: programs read back, candidates indexed
        evaluate()
    timings = []
    clock = time.perf_counter_ns
    started = clock()
    for _ in range(calls):
        before = clock()
        evaluate()
        timings.append(clock() - before)
    elapsed = (clock() - started) / 1e9
    timings.sort()
    p50, p99 = timings[len(timings) // 2] / 1e6, timings[int(len(timings) * 0.99)] / 1e6
    print(
        f"single document: {document.kind}/{document.name} ({results} results), {calls} calls: "
        f"p50 {p50:.3f} ms, p99 {p99:.3f} ms, {calls / elapsed:.0f} calls/s",
        flush=True,
    )


SINGLE_LINE = re.compile(r"p50 ([\d.]+) ms, p99 ([\d.]+) ms, (\d+) calls/s")


def compared(shared: Path, work: Path, rev: str, *, pack_args: list[str], repeat: int, calls: int) -> None:
    """The 10k scan and the single document of ``rev`` (before) and of this tree (after),
    measured in turn in the same run, printed side by side."""
    here = Path(__file__).resolve().parents[1]
    before = baseline_tree(here, work, rev)
    trees = {"before": before / "src", "after": here / "src"}
    envs = {name: {**os.environ, "PYTHONPATH": str(src)} for name, src in trees.items()}
    corpus = generate(shared, work, 10000)
    parse = [sys.executable, "-c", PARSE_ONLY, str(corpus)]
    scans: list[Command] = [(parse, None)]
    for name in trees:
        output = ["--format", "json", "--output", str(work / f"scan10000-{name}.json")]
        scan = [sys.executable, "-m", "leitplanke.cli", "scan", str(corpus), *pack_args, *output]
        scans.append((scan, envs[name]))
    parsed, *scanned = measured_in_turn(scans, repeat)
    single: dict[str, list[tuple[float, float, float]]] = {name: [] for name in trees}
    for _ in range(repeat):
        for name in trees:
            single_only = ["--single-only", "--shared", str(shared), "--single-calls", str(calls)]
            out = subprocess.run(
                [sys.executable, __file__, *single_only],
                env=envs[name],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            found = SINGLE_LINE.search(out)
            if found is None:
                raise SystemExit(f"no single-document figures from the {name} tree: {out}")
            single[name].append((float(found[1]), float(found[2]), float(found[3])))
    rows = [
        ("10k scan s", *(f["wall"] for f in scanned)),
        ("10k scan / parse", *(f["wall"] / parsed["wall"] for f in scanned)),
        ("10k peak MB (tree PSS)", *(f["peak_total_mb"] for f in scanned)),
        *(
            (label, *(sorted(t[column] for t in single[name])[repeat // 2] for name in trees))
            for column, label in enumerate(("single p50 ms", "single p99 ms", "single calls/s"))
        ),
    ]
    print(f"\nbefore: {rev} ({before}), after: {here}; medians of {repeat} runs in turn")
    print(f"bare PyYAML C-loader parse of the 10k corpus: {parsed['wall']:.2f} s")
    print("\t".join(("figure", "before", "after", "after/before")))
    for label, old, new in rows:
        print(f"{label}\t{old:.3f}\t{new:.3f}\t{new / old:.2f}", flush=True)


def baseline_tree(repo: Path, work: Path, rev: str) -> Path:
    """``rev`` checked out as a detached git worktree under ``work`` (kept for the next run),
    its bytecode compiled as ``make bench`` compiles this tree's."""
    commit = git(repo, "rev-parse", "--verify", f"{rev}^{{commit}}")
    tree = work / f"baseline-{commit[:12]}"
    if not (tree / ".git").exists():
        git(repo, "worktree", "add", "--detach", str(tree), commit)
    elif git(tree, "rev-parse", "HEAD") != commit:
        raise SystemExit(f"{tree} is not at {commit}: remove it (git worktree remove)")
    compiling = [sys.executable, "-m", "compileall", "-q", str(tree / "src")]
    subprocess.run(compiling, check=True, stdout=subprocess.DEVNULL)
    return tree


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


def count_evaluations(corpus: Path) -> int:
    """Rule evaluations of a scan with every built-in pack (in this process, not timed)."""
    from datetime import UTC, datetime

    from leitplanke import engine
    from leitplanke.engine import loading
    from leitplanke.sources import files

    now = datetime.now(UTC)
    loaded = loading.load_packs(loading.available_packs(), now=now)
    policy_set = engine.compile(loaded.policies)
    sources = list(files.iter_sources([str(corpus)]))
    scanned = engine.scan(policy_set, sources, engine.Findings(), load=files.load_source, now=now)
    return scanned.evaluations


def platform_line() -> str:
    try:
        model = next(
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        )
    except (OSError, StopIteration):
        model = "unknown cpu"
    return f"{model}, Python {sys.version.split()[0]}"


if __name__ == "__main__":
    main()
