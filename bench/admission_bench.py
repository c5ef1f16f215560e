"""`make bench-admission`: the admission webhook under an open-loop load of real AdmissionReviews.

Builds reviews from ../shared/bench/real manifests (CREATE of every kind found, every fourth an
UPDATE with an ``oldObject``), starts the real ``leitplanke webhook`` with every built-in pack in
``enforce`` mode on loopback TLS (a CA and certificate made here by ``cryptography``), then sends
requests at a constant arrival rate over a pool of keep-alive connections. Latency is measured from
each request's scheduled send time, so a slow answer delays none of the later sends' clocks
(no coordinated omission). Prints per rate p50/p95/p99/max, errors, the achieved rate, the server's
CPU and RSS (from /proc) and the generator's own CPU. ``--soak N`` sends N requests and prints the
memory of the server's whole process tree (supervisor and workers with ``--workers`` or
``--max-requests``: RSS summed, and PSS, which counts pages shared after the fork once) before and after.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import ipaddress
import json
import os
import pstats
import signal
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from leitplanke.core.documents import Document
from leitplanke.sources import files

LEITPLANKE = [sys.executable, "-m", "leitplanke.cli"]
NAMESPACES = ("shop", "payments", "web")  # every one mapped to the enforcing environment
# the API groups the chart's ValidatingWebhookConfiguration sends (deploy/helm values, webhook.rules)
GROUPS = {"", "apps", "batch", "networking.k8s.io", "rbac.authorization.k8s.io", "policy"}
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "IngressClass", "PersistentVolume", "Node"}
UID0 = "00000000-0000-0000-0000-000000000000"  # replaced per request by a unique uid
CLK_TCK = os.sysconf("SC_CLK_TCK")


# --- payloads ------------------------------------------------------------------------------------


def real_objects(real: Path) -> list[dict[str, Any]]:
    """Every named object of the corpus in the groups the chart's webhook receives, as JSON-safe
    dicts, in a stable order."""
    found: list[dict[str, Any]] = []
    for path in sorted(str(p) for p in real.rglob("*.y*ml")):
        for item in files.load_documents(path):
            if isinstance(item, Document) and item.domain == "kubernetes" and item.name and item.kind:
                group = str(item.body.get("apiVersion", "")).rpartition("/")[0]
                if item.kind not in ("List", "Namespace") and group in GROUPS:
                    found.append(json.loads(json.dumps(item.body, default=str)))
    return found


def build_review(obj: dict[str, Any], *, namespace: str, update: bool) -> dict[str, Any]:
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    kind = str(obj["kind"])
    resource = {"group": group, "version": version, "resource": kind.lower() + "s"}
    if kind in CLUSTER_SCOPED:
        namespace = ""
    metadata = {k: v for k, v in obj["metadata"].items() if k != "namespace"}
    if namespace:
        metadata["namespace"] = namespace
    obj = {**obj, "metadata": metadata}
    old = None
    if update:  # the API server sends the stored object beside the new one
        old = json.loads(json.dumps(obj))
        old["metadata"].setdefault("labels", {})
        old["metadata"]["labels"] = {**(old["metadata"]["labels"] or {}), "bench-revision": "1"}
    request = {
        "uid": UID0,
        "kind": {"group": group, "version": version, "kind": kind},
        "resource": resource,
        "requestKind": {"group": group, "version": version, "kind": kind},
        "requestResource": resource,
        "name": obj["metadata"]["name"],
        "namespace": namespace,
        "operation": "UPDATE" if update else "CREATE",
        "userInfo": {"username": "system:serviceaccount:ci:deployer", "groups": ["system:authenticated"]},
        "object": obj,
        "oldObject": old,
        "dryRun": False,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": "UpdateOptions" if update else "CreateOptions"},
    }
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def build_payloads(real: Path, limit: int) -> tuple[list[bytes], Counter[str]]:
    """HTTP/1.1 requests (head and body) ready to send, and the mix by operation and kind."""
    objects = real_objects(real)
    step = max(1, len(objects) // limit)
    payloads, mix = [], Counter[str]()
    for index, obj in enumerate(objects[::step][:limit]):
        update = index % 4 == 3
        review = build_review(obj, namespace=NAMESPACES[index % len(NAMESPACES)], update=update)
        body = orjson.dumps(review)
        head = (
            f"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        payloads.append(head + body)
        mix[f"{'UPDATE' if update else 'CREATE'} {obj['kind']}"] += 1
    return payloads, mix


def config_text() -> str:
    packs = orjson.loads(
        subprocess.run(
            [*LEITPLANKE, "policies", "list", "--all", "--format", "json"], check=True, capture_output=True
        ).stdout
    )
    names = sorted({p["pack"] for p in packs})
    mapping = ", ".join(f"{n}: prod" for n in NAMESPACES)
    return (
        f"packs: [{', '.join(names)}]\nadmission:\n  default: enforce\n"
        f"  environments: {{prod: enforce}}\n  namespaces: {{{mapping}}}\n"
        f"  failurePolicy: {{default: closed}}\n"
    )


# --- the server ----------------------------------------------------------------------------------


def make_certificates(folder: Path) -> Path:
    """A CA (ca.crt) and a server certificate for 127.0.0.1 (tls.crt, tls.key) signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leitplanke bench CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "webhook")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    (folder / "ca.crt").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "tls.key").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return folder / "ca.crt"


def start_server(
    folder: Path, port: int, profile: Path | None, queue: tuple[str, ...] = (), workers: tuple[str, ...] = ()
) -> subprocess.Popen[bytes]:
    """The real ``leitplanke webhook``; under cProfile (written at its exit) with ``profile``; with
    ``queue`` flags it records every decision through its local queue (no service: nothing ships)."""
    profiler = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else [sys.executable]
    command = [
        *profiler, "-m", "leitplanke.cli", "webhook", "--port", str(port), "--host", "127.0.0.1",
        "--cert-file", str(folder / "tls.crt"), "--key-file", str(folder / "tls.key"),
        "--config", str(folder / "leitplanke.yaml"), *queue, *workers,
    ]  # fmt: skip
    with (folder / "webhook.log").open("wb") as log:
        return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=folder)


def wait_ready(process: subprocess.Popen[bytes], port: int, context: ssl.SSLContext, log: Path) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the webhook exited {process.returncode}:\n{log.read_text()}")
        try:
            with (
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
            ):
                tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                if tls.recv(64).startswith(b"HTTP/1.1 200"):
                    return
        except OSError:
            time.sleep(0.3)
    raise SystemExit(f"the webhook did not answer in 180 s:\n{log.read_text()}")


@dataclass(frozen=True)
class ProcStat:
    """The server's process tree: the process started and its live children (the workers)."""

    cpu: float  # user + system seconds, the children reaped (recycled workers) included
    rss_kib: int  # summed: pages a worker shares with the supervisor after the fork count per process
    hwm_kib: int  # the started process's own peak
    pss_kib: int = 0  # summed proportional set size: a shared page counts once over its sharers

    @staticmethod
    def of(pid: int) -> ProcStat:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        status = _status(pid)
        # utime, stime and cutime, cstime: what the reaped children used counts too
        cpu = sum(int(fields[index]) for index in (11, 12, 13, 14)) / CLK_TCK
        rss, pss = int(status["VmRSS"].split()[0]), _pss(pid)
        for child in _children(pid):
            try:
                child_fields = Path(f"/proc/{child}/stat").read_text().rsplit(")", 1)[1].split()
                cpu += (int(child_fields[11]) + int(child_fields[12])) / CLK_TCK
                rss += int(_status(int(child))["VmRSS"].split()[0])
                pss += _pss(int(child))
            except (OSError, KeyError):
                continue  # a worker that exited meanwhile: its CPU is in cutime at the next reading
        return ProcStat(cpu, rss, int(status["VmHWM"].split()[0]), pss)


def _children(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/task/{pid}/children").read_text().split()


def _status(pid: int) -> dict[str, str]:
    text = Path(f"/proc/{pid}/status").read_text()
    return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)


def _pss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


# --- the load generator --------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTPS connection speaking just enough HTTP/1.1 for the webhook's answers."""

    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        self.port, self.context = port, context
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.context, server_hostname="127.0.0.1"
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def exchange(self, request: bytes) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)
        }
        if "content-length" in headers:
            body = await self.reader.readexactly(int(headers["content-length"]))
        else:
            chunks = []
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                chunks.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readexactly(2)
            body = b"".join(chunks)
        if headers.get("connection", "").lower() == "close":
            self.close()  # a retiring worker's last answer: the next request opens a new connection
        return status, body


@dataclass
class Phase:
    rate: float
    count: int
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0
    generator_cpu: float = 0.0


async def run_phase(
    payloads: list[bytes],
    *,
    port: int,
    context: ssl.SSLContext,
    rate: float,
    count: int,
    pool: int,
    timeout: float,
) -> Phase:
    """``count`` requests at ``rate`` per second, each scheduled at ``start + i / rate``."""
    clock = time.perf_counter  # not loop.time(): uvloop's is in whole milliseconds, cached per turn
    phase = Phase(rate, count)
    connections = [Connection(port, context) for _ in range(pool)]
    await asyncio.gather(*(c.open() for c in connections))  # handshakes are not part of the phase
    queue: asyncio.Queue[tuple[float, int] | None] = asyncio.Queue()
    cpu0 = time.process_time()
    start = clock() + 0.05

    async def schedule() -> None:
        for index in range(count):
            delay = start + index / rate - clock()
            if delay > 0:
                await asyncio.sleep(delay)
            queue.put_nowait((start + index / rate, index))
        for _ in connections:
            queue.put_nowait(None)

    async def work(connection: Connection) -> None:
        while (item := await queue.get()) is not None:
            scheduled, index = item
            uid = f"{index:08x}-0000-4000-8000-{index:012x}"[-36:]
            request = payloads[index % len(payloads)].replace(UID0.encode(), uid.encode(), 1)
            try:
                status, body = await asyncio.wait_for(connection.exchange(request), timeout)
                answer = orjson.loads(body).get("response", {}) if status == 200 else {}
                if status != 200:
                    phase.errors[f"http {status}"] += 1
                elif answer.get("uid") != uid:
                    phase.errors["wrong uid"] += 1
                else:
                    phase.outcomes["allowed" if answer.get("allowed") else "denied"] += 1
            except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
                phase.errors[type(exc).__name__] += 1
                connection.close()
            phase.latencies.append(clock() - scheduled)

    await asyncio.gather(schedule(), *(work(c) for c in connections))
    phase.wall = clock() - start
    phase.generator_cpu = time.process_time() - cpu0
    for connection in connections:
        connection.close()
    return phase


def percentile(ordered: list[float], fraction: float) -> float:
    """Nearest rank: the smallest value with at least ``fraction`` of the values at or below it."""
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(-(-fraction * len(ordered) // 1)) - 1))]


HEADER = (
    f"{'rate/s':>7} {'sent':>6} {'errors':>7} {'achieved/s':>10} {'p50 ms':>7} {'p95 ms':>7} {'p99 ms':>7} "
    f"{'max ms':>7} {'srv CPU s':>9} {'srv CPU':>7} {'srv RSS MiB':>11} {'gen CPU':>7} {'load':>5}"
)


def render_row(phase: Phase, before: ProcStat, after: ProcStat) -> str:
    ordered = sorted(phase.latencies)
    errors = sum(phase.errors.values())
    server_cpu = after.cpu - before.cpu
    generator = phase.generator_cpu / phase.wall
    return (
        f"{phase.rate:>7.0f} {phase.count:>6} {errors:>7} {phase.count / phase.wall:>10.1f} "
        f"{percentile(ordered, 0.50) * 1e3:>7.2f} {percentile(ordered, 0.95) * 1e3:>7.2f} "
        f"{percentile(ordered, 0.99) * 1e3:>7.2f} {ordered[-1] * 1e3:>7.1f} {server_cpu:>9.2f} "
        f"{server_cpu / phase.wall:>7.0%} {after.rss_kib / 1024:>11.1f} {generator:>7.0%} "
        f"{os.getloadavg()[0]:>5.2f}"
    )


# --- the run -------------------------------------------------------------------------------------


async def sample_memory(pid: int, *, every: float, into: list[ProcStat]) -> None:
    """The server tree's memory appended to ``into`` every ``every`` seconds, until cancelled."""
    while True:
        await asyncio.sleep(every)
        into.append(ProcStat.of(pid))


async def bench(args: argparse.Namespace, payloads: list[bytes], pid: int, context: ssl.SSLContext) -> None:
    common = {"port": args.port, "context": context, "pool": args.connections, "timeout": args.timeout}
    warm = await run_phase(payloads, rate=200, count=max(len(payloads) * 3, 600), **common)
    print(f"warm-up: {warm.count} requests, errors {dict(warm.errors) or 0}, outcomes {dict(warm.outcomes)}")
    if warm.errors:
        raise SystemExit("the warm-up had errors: see the webhook log")
    if args.soak:
        before = ProcStat.of(pid)
        samples: list[ProcStat] = []
        every = args.soak / args.soak_rate / 20
        sampling = asyncio.create_task(sample_memory(pid, every=every, into=samples))
        phase = await run_phase(payloads, rate=args.soak_rate, count=args.soak, **common)
        sampling.cancel()
        # at rest: a worker retiring at the end (its replacement already up) has left
        settled = time.monotonic() + 15
        while len(_children(pid)) > (args.workers if args.max_requests or args.workers > 1 else 0):
            if time.monotonic() > settled:
                break
            await asyncio.sleep(0.2)
        after = ProcStat.of(pid)
        for name in ("rss_kib", "pss_kib"):
            series = " ".join(f"{getattr(sample, name) / 1024:.0f}" for sample in samples)
            print(f"soak: server tree {name[:3].upper()} MiB every twentieth: {series}")
        print(HEADER)
        print(render_row(phase, before, after))
        print(f"soak: {args.soak} requests at {args.soak_rate:.0f}/s; errors {dict(phase.errors) or 0}")
        for name in ("rss_kib", "pss_kib"):
            start, end = getattr(before, name), getattr(after, name)
            peak = max([start, end, *(getattr(sample, name) for sample in samples)])
            print(
                f"soak: server tree {name[:3].upper()} {start / 1024:.1f} MiB at start, {end / 1024:.1f} MiB "
                f"at end ({(end - start) / start:+.1%}), peak {peak / 1024:.1f} MiB of the samples"
            )
            # a recycled worker's memory depends on where in its life it is: the trend is the median
            # of the first fifth of the samples against that of the last fifth
            fifth = max(1, len(samples) // 5)
            first = statistics.median(getattr(sample, name) for sample in samples[:fifth])
            last = statistics.median(getattr(sample, name) for sample in samples[-fifth:])
            print(
                f"soak: server tree {name[:3].upper()} median of the first fifth {first / 1024:.1f} MiB, of "
                f"the last fifth {last / 1024:.1f} MiB ({(last - first) / first:+.1%})"
            )
        print(f"soak: load average at the end {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return
    print(HEADER)
    for rate in args.rates:
        before = ProcStat.of(pid)
        phase = await run_phase(payloads, rate=rate, count=int(rate * args.seconds), **common)
        print(render_row(phase, before, ProcStat.of(pid)), flush=True)
        if phase.errors:
            print(f"        errors: {dict(phase.errors)}")


def loop_factory() -> Any:
    """uvloop where installed (it is, with uvicorn[standard]): the lighter generator."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path("../shared"))
    parser.add_argument("--work", type=Path, default=Path("build/bench"))
    parser.add_argument("--rates", type=float, nargs="+", default=[100, 500, 1000])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each rate's phase")
    parser.add_argument("--payloads", type=int, default=200, help="distinct reviews, spread over the corpus")
    parser.add_argument("--connections", type=int, default=16, help="keep-alive connections in the pool")
    parser.add_argument("--timeout", type=float, default=10.0, help="a request slower than this is an error")
    parser.add_argument("--soak", type=int, default=0, help="instead: N requests, RSS at start and end")
    parser.add_argument("--soak-rate", type=float, default=500.0)
    parser.add_argument("--workers", type=int, default=1, help="the webhook's --workers")
    parser.add_argument("--max-requests", type=int, default=0, help="the webhook's --max-requests")
    parser.add_argument("--max-requests-jitter", type=int, default=0, help="the webhook's jitter")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--profile", type=Path, help="run the server under cProfile, write and print it")
    parser.add_argument(
        "--queue", choices=("off", "normal", "fsync"), default="off", help="record through the decision queue"
    )
    args = parser.parse_args()
    real = args.shared / "bench" / "real"
    if not real.is_dir():
        raise SystemExit(f"the real-manifest corpus is not at {real}")
    payloads, mix = build_payloads(real, args.payloads)
    sizes = sorted(len(p) for p in payloads)
    print(
        f"payloads: {len(payloads)} reviews from {real}, body {sizes[0]}-{sizes[-1]} bytes "
        f"(median {sizes[len(sizes) // 2]}): {', '.join(f'{k} {v}' for k, v in sorted(mix.items()))}"
    )
    args.work = args.work.resolve()  # the webhook runs in a folder of its own: paths must not be relative
    args.work.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=args.work, prefix="admission-") as tmp:
        folder = Path(tmp)
        (folder / "leitplanke.yaml").write_text(config_text())
        context = ssl.create_default_context(cafile=str(make_certificates(folder)))
        if not args.port:
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                args.port = probe.getsockname()[1]
        queue = () if args.queue == "off" else ("--queue", str(folder / "queue.sqlite"))
        queue += ("--queue-fsync",) if args.queue == "fsync" else ()
        workers = (
            "--workers", str(args.workers), "--max-requests", str(args.max_requests),
            "--max-requests-jitter", str(args.max_requests_jitter),
        )  # fmt: skip
        process = start_server(folder, args.port, args.profile, queue, workers)
        try:
            wait_ready(process, args.port, context, folder / "webhook.log")
            print(f"webhook pid {process.pid}: {(folder / 'webhook.log').read_text().splitlines()[0]}")
            print(f"decision queue: {args.queue}")
            print(
                f"workers: {args.workers}, replaced after {args.max_requests or 'no limit'}"
                f" (+ up to {args.max_requests_jitter}) requests"
            )
            print(
                f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}; "
                f"{args.connections} keep-alive TLS connections, latency from the scheduled send"
            )
            with asyncio.Runner(loop_factory=loop_factory()) as runner:
                runner.run(bench(args, payloads, process.pid, context))
        finally:
            # SIGINT under cProfile: Uvicorn re-raises the signal after its shutdown, and only an
            # interrupt (not a SIGTERM) lets cProfile write its file
            process.send_signal(signal.SIGINT if args.profile else signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
        if args.profile and args.profile.exists():
            print(f"server profile (cProfile, {args.profile}), by own time:")
            pstats.Stats(str(args.profile), stream=sys.stdout).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
