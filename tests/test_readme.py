"""The README's examples run as written: every shell block is executed in a fresh copy of the
checkout (its ``git ls-files``) with the venv's ``leitplanke`` on PATH, and every configuration
example that names its file is that file under ``examples/``.

Markers in the README, an HTML comment right before a block:
``<!-- readme-test: skip (why) -->``, ``<!-- readme-test: exit N: command prefix -->`` (the
longest matching prefix wins; 0 otherwise) and ``<!-- readme-test: unchecked (why): prefix -->``
(run, neither exit code nor output asserted). Blocks marked ``<!-- readme-test: service -->`` run
against one real ``leitplanke serve --demo`` of the module (SQLite in tmp, a free loopback port):
its address stands for ``http://127.0.0.1:8080``, the token it printed for ``lp_…`` (also in ``T``
and ``LEITPLANKE_TOKEN``, as the block exporting it leaves them), a second subject's approver token
is in ``APPROVER``, and a waiver's ``"expires"`` is 30 days from today; a ``curl`` of ``/api/``
must print JSON.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SHELLS = ("sh", "bash", "console")
MAX_SKIPPED = 5  # servers that run until stopped (serve, webhook twice, portal) and the cluster install
MARKER = re.compile(r"<!-- readme-test: (.*?) -->")
EXIT = re.compile(r"exit (\d+): (.+)")
UNCHECKED = re.compile(r"unchecked \((.+?)\): (.+)")
SKIP = re.compile(r"skip(?: \((.*)\))?")
EXPIRES = re.compile(r"^(\s*expires: )\d{4}-\d{2}-\d{2}", re.MULTILINE)
SERVICE = "service"
README_ADDRESS = "http://127.0.0.1:8080"
README_TOKEN = re.compile(r"(export LEITPLANKE_TOKEN=)lp_…")
JSON_EXPIRES = re.compile(r'("expires": ")\d{4}-\d{2}-\d{2}')
TOKEN_LINE = "platform-admin token (shown once): "


@dataclass
class Block:
    line: int  # of the opening fence
    language: str
    text: str
    markers: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Command:
    text: str
    expected: str  # the console output shown under it ("" for sh blocks)


def read_blocks(text: str) -> list[Block]:
    """Every fenced block of the README, with the markers just before it."""
    blocks: list[Block] = []
    lines = text.splitlines()
    markers: list[str] = []
    index = 0
    while index < len(lines):
        line = lines[index]
        found = MARKER.fullmatch(line.strip())
        if found:
            markers.append(found.group(1))
        elif line.startswith("```"):
            start = index
            index += 1
            body: list[str] = []
            while not lines[index].startswith("```"):
                body.append(lines[index])
                index += 1
            blocks.append(Block(start + 1, line[3:].strip(), "\n".join(body) + "\n", markers))
            markers = []
        elif line.strip():
            markers = []
        index += 1
    return blocks


def split_commands(block: Block) -> list[Command]:
    """The commands of a block: ``$ `` lines with their output (console) or every complete shell
    line, continuation lines and open quotes joined (sh)."""
    commands: list[Command] = []
    if block.language == "console":
        current: str | None = None
        shown: list[str] = []
        for line in block.text.splitlines():
            if line.startswith("$ "):
                if current is not None:
                    commands.append(Command(current, "\n".join(shown)))
                current, shown = line[2:], []
            elif line.strip():
                shown.append(line)
        if current is not None:
            commands.append(Command(current, "\n".join(shown)))
        return commands
    pending = ""
    for line in block.text.splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line + "\n"
        if line.endswith("\\"):
            continue
        try:
            shlex.split(pending, comments=True)
        except ValueError:  # a quote still open
            continue
        commands.append(Command(pending.rstrip("\n"), ""))
        pending = ""
    assert not pending, f"README line {block.line}: an unfinished command: {pending!r}"
    return commands


def expectation(block: Block, command: str) -> int | None:
    """The exit code the markers declare for ``command`` (None: unchecked)."""
    best: tuple[int, int | None] = (-1, 0)
    for marker in block.markers:
        exit_ = EXIT.fullmatch(marker)
        unchecked = UNCHECKED.fullmatch(marker)
        prefix, code = (exit_.group(2), int(exit_.group(1))) if exit_ else (None, None)
        if unchecked:
            prefix, code = unchecked.group(2), None
        if prefix is not None and command.startswith(prefix) and len(prefix) > best[0]:
            best = (len(prefix), code)
    return best[1]


def skip_reason(block: Block) -> str | None:
    for marker in block.markers:
        found = SKIP.fullmatch(marker)
        if found:
            return found.group(1) or ""
    return None


BLOCKS = read_blocks(README.read_text(encoding="utf-8"))
SHELL_BLOCKS = [b for b in BLOCKS if b.language in SHELLS]
CONFIG_BLOCKS = [b for b in BLOCKS if b.language == "yaml"]


def test_the_readme_reader_finds_markers_commands_and_console_output():
    text = (
        "<!-- readme-test: exit 1: leitplanke scan examples -->\n"
        "```sh\n# a comment\nleitplanke scan examples/ \\\n  -q\necho 'a\nb'\n```\n"
        "prose\n```console\n$ leitplanke scan x\n  10  fail  high\nsummary\n```\n"
    )
    sh, console = read_blocks(text)

    assert [c.text for c in split_commands(sh)] == ["leitplanke scan examples/ \\\n  -q", "echo 'a\nb'"]
    assert split_commands(console) == [Command("leitplanke scan x", "  10  fail  high\nsummary")]
    assert (expectation(sh, "leitplanke scan examples/ -q"), expectation(sh, "echo")) == (1, 0)
    assert console.markers == []


def test_every_skipped_block_says_why_and_only_a_handful_are_skipped():
    skipped = {b.line: skip_reason(b) for b in SHELL_BLOCKS if skip_reason(b) is not None}

    assert all(skipped.values()), f"README blocks skipped without a reason: {skipped}"
    assert 0 < len(skipped) <= MAX_SKIPPED, skipped
    assert len(SHELL_BLOCKS) - len(skipped) >= 6


def test_every_marker_is_understood():
    for block in BLOCKS:
        for marker in block.markers:
            understood = SKIP.fullmatch(marker) or EXIT.fullmatch(marker) or UNCHECKED.fullmatch(marker)
            assert understood or marker == SERVICE, f"README line {block.line}: unknown marker {marker!r}"


@pytest.mark.parametrize("block", CONFIG_BLOCKS, ids=lambda b: f"line{b.line}")
def test_each_configuration_example_is_the_file_it_names_under_examples(block):
    first = block.text.splitlines()[0]
    assert first.startswith("# examples/"), f"README line {block.line}: name the file: # examples/…"
    path = REPO / first[2:].split()[0].rstrip(":")

    assert path.read_text(encoding="utf-8") == block.text


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    """Compiled CEL programs shared by the blocks' commands: the first compile pays for all."""
    return tmp_path_factory.mktemp("cel-cache")


def in_30_days() -> str:
    """An expiry date waivers accept (at most 90 days ahead), whatever today is."""
    return f"{(datetime.now(UTC) + timedelta(days=30)):%Y-%m-%d}"


def fresh_checkout(target: Path) -> Path:
    """The tracked files of the checkout as they are now (uncommitted changes included), with
    ``.venv`` pointing at this venv and each waiver's expiry set 30 days from today."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / ".venv").symlink_to(sys.prefix)
    expires = in_30_days()
    for waiver in (target / "examples" / "waivers").glob("*.yaml"):
        waiver.write_text(EXPIRES.sub(rf"\g<1>{expires}", waiver.read_text(encoding="utf-8")))
    return target


def build_script(commands: list[Command], results: Path) -> str:
    """One bash script for a block, so that variables and ``source`` carry over; each command's
    output and exit code go to files of their own."""
    lines = ["set +e"]
    for number, command in enumerate(commands):
        lines.append(f"{{\n{command.text}\n}} >{results}/{number}.out 2>{results}/{number}.err </dev/null")
        lines.append(f"echo $? >{results}/{number}.code")
    return "\n".join(lines) + "\n"


def block_environment(tmp_path: Path, checkout: Path, cache_dir: Path) -> dict[str, str]:
    venv_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path / "tmp"),
        "PYTHONPATH": str(checkout / "src"),
        "LEITPLANKE_DATA_DIR": str(tmp_path / "data"),  # SQLite in tmp
        "LEITPLANKE_CACHE_DIR": str(cache_dir),
        "LANG": "C.UTF-8",
    }


@dataclass(frozen=True)
class DemoService:
    address: str  # http://127.0.0.1:PORT
    admin_token: str  # the platform-admin token serve --demo printed
    approver_token: str  # another subject's, approver of node-agent's team


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait_for_token_and_health(process: subprocess.Popen[bytes], root: Path, port: int) -> str:
    """The token ``serve --demo`` printed (into root/serve.out), once the service answers /healthz."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        printed = [
            line for line in (root / "serve.out").read_text().splitlines() if line.startswith(TOKEN_LINE)
        ]
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        try:
            connection.request("GET", "/healthz")
            if printed and connection.getresponse().status == 200:
                return printed[0].removeprefix(TOKEN_LINE)
        except OSError:
            pass
        finally:
            connection.close()
        time.sleep(0.1)
    error = (root / "serve.err").read_text()[-2000:]
    raise AssertionError(
        f"serve --demo printed no token or /healthz did not answer (exit {process.poll()}):\n{error}"
    )


@pytest.fixture(scope="module")
def demo_service(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Iterator[DemoService]:
    """One ``leitplanke serve --demo`` for the module, in a fresh checkout over SQLite in tmp, and an
    approver token of team-platform (node-agent's owner) for a second subject, on the same database."""
    root = tmp_path_factory.mktemp("service")
    checkout = fresh_checkout(root / "checkout")
    (root / "tmp").mkdir()
    env = block_environment(root, checkout, cache_dir)
    port = _free_port()
    with (root / "serve.out").open("wb") as stdout, (root / "serve.err").open("wb") as stderr:
        process = subprocess.Popen(
            ["leitplanke", "serve", "--demo", "--host", "127.0.0.1", "--port", str(port)],
            cwd=checkout,
            env=env,
            stdout=stdout,
            stderr=stderr,
        )
    try:
        admin_token = _wait_for_token_and_health(process, root, port)
        approver = subprocess.run(
            [
                *("leitplanke", "tokens", "create", "--subject", "user:approver@example.com"),
                *("--role", "approver", "--team", "team-platform", "--name", "readme"),
            ],
            cwd=checkout,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        yield DemoService(f"http://127.0.0.1:{port}", admin_token, approver.stdout.strip())
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def against_service(block: Block, service: DemoService) -> Block:
    """The block as a reader runs it against this service: its address, its token and an expiry
    the service accepts."""
    text = block.text.replace(README_ADDRESS, service.address)
    text = README_TOKEN.sub(lambda found: found.group(1) + service.admin_token, text)
    text = JSON_EXPIRES.sub(rf"\g<1>{in_30_days()}", text)
    return replace(block, text=text)


def run_block(block: Block, tmp_path: Path, cache_dir: Path, extra: dict[str, str]) -> list[str]:
    """Run the block's commands in a fresh checkout; what differs from the README's markers and
    shown output (empty when it runs as written)."""
    checkout = fresh_checkout(tmp_path / "checkout")
    results = tmp_path / "results"
    results.mkdir()
    (tmp_path / "tmp").mkdir()
    commands = split_commands(block)
    run = subprocess.run(
        ["bash", "-c", build_script(commands, results)],
        cwd=checkout,
        env={**block_environment(tmp_path, checkout, cache_dir), **extra},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr

    wrong = []
    for number, command in enumerate(commands):
        code = int((results / f"{number}.code").read_text())
        out = (results / f"{number}.out").read_text(encoding="utf-8")
        err = (results / f"{number}.err").read_text(encoding="utf-8")
        expected = expectation(block, command.text)
        if expected is None:
            continue
        if code != expected:
            wrong.append(f"{command.text!r}: exit {code}, expected {expected}\n{out[-2000:]}{err[-2000:]}")
        shown = {line.strip() for line in out.splitlines()}
        missing = [line for line in command.expected.splitlines() if line.strip() not in shown]
        if missing:
            wrong.append(f"{command.text!r}: lines not in its output: {missing}")
        if SERVICE in block.markers and command.text.startswith("curl ") and "/api/" in command.text:
            try:
                json.loads(out)
            except ValueError:
                wrong.append(f"{command.text!r}: not JSON: {out[:500]!r}")
    return wrong


@pytest.mark.parametrize(
    "block",
    [b for b in SHELL_BLOCKS if skip_reason(b) is None and SERVICE not in b.markers],
    ids=lambda b: f"line{b.line}",
)
def test_each_shell_block_of_the_readme_runs_as_written(block, tmp_path, cache_dir):
    wrong = run_block(block, tmp_path, cache_dir, {})

    assert wrong == [], f"README line {block.line}:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    "block", [b for b in SHELL_BLOCKS if SERVICE in b.markers], ids=lambda b: f"line{b.line}"
)
def test_each_service_block_of_the_readme_runs_against_the_demo_service(
    block, tmp_path, cache_dir, demo_service
):
    extra = {
        "T": demo_service.admin_token,
        "LEITPLANKE_TOKEN": demo_service.admin_token,
        "APPROVER": demo_service.approver_token,
    }

    wrong = run_block(against_service(block, demo_service), tmp_path, cache_dir, extra)

    assert wrong == [], f"README line {block.line}:\n" + "\n".join(wrong)


def test_the_example_catalog_is_the_one_the_demo_seeds():
    from leitplanke.cli import db

    text = (REPO / "examples" / "catalog.yaml").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("# ")) + "\n"

    assert body == db.DEMO_CATALOG
