"""`make bench-service`: the 10,000-resource scan uploaded to a real `leitplanke serve`, on SQLite and
PostgreSQL.

Generates the corpus with ../shared/bench/gen_corpus.py (seed 1), scans it once with every built-in
pack (`leitplanke scan -f json`, the report cached under BENCH_DIR), then per database: a fresh
SQLite file or PostgreSQL schema, the catalog and a developer token through the CLI, a `leitplanke
serve` (uvicorn) subprocess, and N uploads of the same report through
`leitplanke.cli.uploading.upload_report` (the path of `scan --upload`). Prints per upload its
seconds, the audit table's growth and the latency of a `GET /findings` loop running meanwhile; then
the server's peak RSS (VmHWM) and the time of `/slas` and `/waivers/figures`.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from leitplanke.cli import uploading
from leitplanke.core.policies import Severity
from leitplanke.core.results import Location, Resource, Result, ScanReport, Verdict

LEITPLANKE = [sys.executable, "-m", "leitplanke.cli"]
POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CATALOG = """\
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: {name: team-bench}
spec: {type: team}
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: {name: bench-app}
spec: {type: service, owner: team-bench, system: bench, lifecycle: production}
---
apiVersion: leitplanke.dev/v1
kind: Environment
metadata: {name: prod}
spec: {enforcement: audit, requiresApproval: false}
"""


def run(args: list[str], *, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(args, check=True, capture_output=True, text=True, env=env)
    return done.stdout


def scanned_report(shared: Path, work: Path, count: int) -> Path:
    """The JSON report of a scan of the generated corpus with every built-in pack, made once."""
    corpus, report = work / f"gen{count}", work / f"scan{count}.json"
    if not (corpus / ".done").exists():
        gen = shared / "bench" / "gen_corpus.py"
        run([sys.executable, str(gen), "--out", str(corpus), "--count", str(count), "--seed", "1"])
        (corpus / ".done").write_text("ok")
    if not report.exists():
        packs = orjson.loads(run([*LEITPLANKE, "policies", "list", "--all", "--format", "json"]))
        pack_args = [a for name in sorted({p["pack"] for p in packs}) for a in ("--pack", name)]
        scan = [*LEITPLANKE, "scan", str(corpus), *pack_args, "-f", "json", "--output", str(report)]
        if subprocess.run(scan, capture_output=True).returncode not in (0, 1):
            raise SystemExit(f"scan failed: {' '.join(scan)}")
    return report


def load_report(path: Path) -> ScanReport:
    """The cached JSON report as the ScanReport ``scan --upload`` would hold."""
    results = []
    for r in orjson.loads(path.read_bytes())["results"]:
        res, loc = r["resource"], r["location"]
        resource = Resource(res["apiVersion"], res["kind"], res["namespace"], res["name"], res["domain"])
        results.append(
            Result(
                policy=r["policy"],
                rule=r["rule"],
                resource=resource,
                verdict=Verdict(r["verdict"]),
                severity=Severity.parse(r["severity"]),
                message=r["message"],
                location=Location(loc["file"], loc["line"], loc["path"], loc["index"]),
                waiver=r["waiver"] or "",
                category=r.get("category") or "",
                controls=tuple(r.get("controls") or ()),
            )
        )
    return ScanReport(results=results, documents=len({r.resource for r in results})).finish(in_order=True)


@contextmanager
def fresh_database(kind: str, work: Path) -> Iterator[str]:
    if kind == "sqlite":
        path = work / "service-bench.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        yield f"sqlite:///{path}"
        return
    from sqlalchemy import create_engine, text

    schema = f"lp_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@contextmanager
def serving(url: str, work: Path) -> Iterator[tuple[int, int]]:
    """A `leitplanke serve` subprocess on a free port: (port, pid)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    env = {**os.environ, "LEITPLANKE_DATABASE_URL": url, "LEITPLANKE_DATA_DIR": str(work)}
    log = (work / "service-bench-server.log").open("ab")
    process = subprocess.Popen([*LEITPLANKE, "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while get(port, "/healthz", token=None, timeout=2)[0] != 200:
            if time.monotonic() > deadline or process.poll() is not None:
                raise SystemExit("leitplanke serve did not start: see service-bench-server.log")
            time.sleep(0.2)
        yield port, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def get(port: int, path: str, *, token: str | None, timeout: float = 30) -> tuple[int, float]:
    """(status, seconds) of one GET; status 0 when the server does not answer."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    start = time.perf_counter()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status, time.perf_counter() - start
    except OSError:
        return 0, time.perf_counter() - start


class Poller:
    """GET a path in a loop in a process of its own until stopped; the latencies in seconds.

    A process, not a thread: a thread would share the GIL with the upload this process renders and
    sends meanwhile, and measure that wait as the server's latency."""

    def __init__(self, port: int, path: str, token: str | None) -> None:
        context = multiprocessing.get_context("fork")
        self.stop = context.Event()
        self._reader, writer = context.Pipe(duplex=False)
        self.process = context.Process(target=self._loop, args=(port, path, token, writer), daemon=True)
        self.latencies: list[float] = []
        self.failures = 0

    def start(self) -> None:
        self.process.start()

    def finish(self) -> None:
        self.stop.set()
        self.latencies, self.failures = self._reader.recv()
        self.process.join()

    def _loop(self, port: int, path: str, token: str | None, writer: Any) -> None:
        latencies, failures = [], 0
        while not self.stop.is_set():
            status, seconds = get(port, path, token=token, timeout=20)
            if status == 200:
                latencies.append(seconds)
            else:
                failures += 1
            time.sleep(0.05)
        writer.send((latencies, failures))


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def audit_rows(url: str) -> int:
    from sqlalchemy import create_engine, text

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as connection:
            return int(connection.execute(text("SELECT count(*) FROM audit_records")).scalar_one())
    finally:
        engine.dispose()


def cpu_seconds(pid: int) -> float:
    """User and system CPU time the server's process tree has used (the work of an upload, whatever the
    machine's load): the server's own, and its descendants' with the children they have reaped (an
    upload's child is reaped by the ingestion process)."""
    total = 0
    for member in process_tree(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # it ended meanwhile
            continue
        total += sum(int(value) for value in fields[11 : 13 if member == pid else 15])
    return total / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the server, its ingestion process and the child of an upload)."""
    tree, index = [pid], 0
    while index < len(tree):
        for task in Path(f"/proc/{tree[index]}/task").glob("*/children"):
            with suppress(OSError):
                tree.extend(int(child) for child in task.read_text().split())
        index += 1
    return tree


def tree_memory_mb(pid: int) -> tuple[float, float]:
    """(sum of RSS, sum of PSS) in MB over the process tree of ``pid``: RSS counts the pages that forked
    processes share once per process, PSS divides them among the sharers."""
    rss = pss = 0
    for member in process_tree(pid):
        try:
            for line in Path(f"/proc/{member}/smaps_rollup").read_text().splitlines():
                if line.startswith("Rss:"):
                    rss += int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss += int(line.split()[1])
        except OSError:  # it ended meanwhile
            pass
    return rss / 1024, pss / 1024


@dataclass
class TreeSampler:
    """The peak memory of a process tree, sampled every 20 ms on a thread of its own until stopped."""

    pid: int
    peak_rss: float = 0.0
    peak_pss: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        while not self.stop.is_set():
            rss, pss = tree_memory_mb(self.pid)
            self.peak_rss, self.peak_pss = max(self.peak_rss, rss), max(self.peak_pss, pss)
            time.sleep(0.02)


def bench_database(kind: str, report: ScanReport, work: Path, uploads: int, figures_findings: int) -> None:
    with fresh_database(kind, work) as url, tempfile.TemporaryDirectory() as scratch:
        catalog = Path(scratch) / "catalog.yaml"
        catalog.write_text(CATALOG)
        run([*LEITPLANKE, "catalog", "apply", str(catalog), "--database", url])
        create = ["tokens", "create", "--role", "developer", "--team", "team-bench", "--name", "bench-dev"]
        if "--subject" in run([*LEITPLANKE, "tokens", "create", "--help"]):  # tokens name their subject
            create += ["--subject", "service:bench"]
        token = run([*LEITPLANKE, *create, "--database", url]).split()[0]
        with serving(url, work) as (port, pid):
            base = f"http://127.0.0.1:{port}"
            print(f"\n{kind}: server pid {pid}, RSS at start {peak_rss_mb(pid):.0f} MB", flush=True)
            print(
                "upload\tseconds\taudit rows +\tGET /findings p50 ms\tp99 ms\tmax ms\tn\t/healthz max ms"
                "\tserver CPU s\tclient CPU s\ttransitions"
            )
            sampler = TreeSampler(pid)
            sampler.thread.start()
            for number in range(1, uploads + 1):
                before = audit_rows(url)
                findings = Poller(port, "/api/v1/findings?limit=100", token)
                health = Poller(port, "/healthz", None)
                findings.start()
                health.start()
                start, server_cpu, client_cpu = time.perf_counter(), cpu_seconds(pid), time.thread_time()
                answer = uploading.upload_report(
                    report, url=base, app="bench-app", env="prod", token=token, now=datetime.now(UTC)
                )
                seconds = time.perf_counter() - start
                server_cpu, client_cpu = cpu_seconds(pid) - server_cpu, time.thread_time() - client_cpu
                findings.finish()
                health.finish()
                lat = [s * 1000 for s in findings.latencies]
                print(
                    f"{number}\t{seconds:.2f}\t{audit_rows(url) - before}\t{percentile(lat, 0.5):.0f}"
                    f"\t{percentile(lat, 0.99):.0f}\t{max(lat, default=float('nan')):.0f}\t{len(lat)}"
                    f"\t{max((s * 1000 for s in health.latencies), default=float('nan')):.0f}"
                    f"\t{server_cpu:.2f}\t{client_cpu:.2f}\t{answer.get('transitions')}",
                    flush=True,
                )
            sampler.stop.set()
            sampler.thread.join()
            print(f"server peak RSS (VmHWM): {peak_rss_mb(pid):.0f} MB")
            print(
                f"server process tree peak (sampled every 20 ms): RSS sum {sampler.peak_rss:.0f} MB, "
                f"PSS sum {sampler.peak_pss:.0f} MB"
            )
            figures(port, token, label="after the uploads")
            in_scope = grow_findings(url, total=figures_findings)
            figures(port, token, label=f"{in_scope} findings in scope")
            deep = in_scope - 100
            status, seconds = get(port, f"/api/v1/findings?limit=100&offset={deep}", token=token, timeout=120)
            print(f"GET /findings at offset {deep}: {status} in {seconds * 1000:.0f} ms")
            cursor = base64.urlsafe_b64encode(f"finding:{deep}".encode()).decode().rstrip("=")
            status, seconds = get(
                port, f"/api/v1/findings?limit=100&cursor={cursor}", token=token, timeout=120
            )
            print(f"GET /findings by cursor after id {deep}: {status} in {seconds * 1000:.0f} ms")


def figures(port: int, token: str, *, label: str) -> None:
    for path in ("/api/v1/slas", "/api/v1/waivers/figures", "/api/v1/findings?limit=100"):
        status, seconds = get(port, path, token=token, timeout=120)
        print(f"{label}: GET {path}: {status} in {seconds * 1000:.0f} ms")


def grow_findings(url: str, *, total: int) -> int:
    """Synthetic findings in the scope of bench-app until it holds ``total`` (statuses, first seen and
    fixed times spread out), written in bulk; how many the scope holds."""
    from sqlalchemy import func, select

    from leitplanke.store import databases, repositories
    from leitplanke.store.rows import Finding

    database = databases.Database(url)
    try:
        with database.transaction() as session:
            app = repositories.app_by_name(session, "bench-app")
            env = repositories.environment_by_name(session, "prod")
            assert app is not None and env is not None
            latest = repositories.latest_scan(session, app_id=app.id, env_id=env.id)
            assert latest is not None
            have = session.scalar(select(func.count()).select_from(Finding)) or 0
            now = datetime.now(UTC)
            for start in range(have, total, 10_000):
                rows = [
                    _synthetic(i, app.id, env.id, latest[0], now)
                    for i in range(start, min(total, start + 10_000))
                ]
                repositories.insert_findings(session, rows)
        return max(have, total)
    finally:
        database.dispose()


def _synthetic(index: int, app_id: int, env_id: int, scan_id: int, now: datetime) -> dict[str, object]:
    status = ("open", "fixed", "waived", "new", "reopened")[index % 5]
    first = now - timedelta(hours=index % 4000)
    return {
        "app_id": app_id,
        "env_id": env_id,
        "fingerprint": f"synthetic-{index:054d}",
        "policy": f"policy-{index % 40}",
        "rule": "rule",
        "api_version": "v1",
        "kind": "Pod",
        "namespace": "bench",
        "name": f"pod-{index}",
        "path": "spec",
        "severity": ("critical", "high", "medium", "low")[index % 4],
        "message": "synthetic",
        "status": status,
        "waiver": "waiver-1" if status == "waived" else "",
        "first_seen": first,
        "last_seen": first,
        "fixed_at": first + timedelta(hours=index % 300) if status == "fixed" else None,
        "sla_due": first + timedelta(days=30),
        "last_scan_id": scan_id,
        "waived_since": first if status == "waived" else None,
        "paused_seconds": 0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default="../shared")
    parser.add_argument("--work", default="build/bench")
    parser.add_argument("--count", type=int, default=10000, help="resources in the generated corpus")
    parser.add_argument("--uploads", type=int, default=10, help="consecutive uploads of the same scan")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--figures-findings", type=int, default=350_000, help="findings in scope when /slas is timed last"
    )
    args = parser.parse_args()
    shared, work = Path(args.shared).resolve(), Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    report_file = scanned_report(shared, work, args.count)
    report = load_report(report_file)
    counts = report.counts()
    print(
        f"machine: {os.cpu_count()} cores; scan of {args.count} resources: {len(report.results)} results, "
        f"{counts['fail']} failing, report {report_file.stat().st_size / 1e6:.0f} MB"
    )
    for kind in args.databases.split(","):
        bench_database(kind, report, work, args.uploads, args.figures_findings)


if __name__ == "__main__":
    main()
