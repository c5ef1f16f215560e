"""The README's examples run as written: every shell block is executed in a fresh copy of the
checkout (its ``git ls-files``) with the venv's ``leitplanke`` on PATH, and every configuration
example that names its file is that file under ``examples/``.

Markers in the README, an HTML comment right before a block:
``<!-- readme-test: skip (why) -->``, ``<!-- readme-test: exit N: command prefix -->`` (the
longest matching prefix wins; 0 otherwise) and ``<!-- readme-test: unchecked (why): prefix -->``
(run, neither exit code nor output asserted).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
SHELLS = ("sh", "bash", "console")
MAX_SKIPPED = 4
MARKER = re.compile(r"<!-- readme-test: (.*?) -->")
EXIT = re.compile(r"exit (\d+): (.+)")
UNCHECKED = re.compile(r"unchecked \((.+?)\): (.+)")
SKIP = re.compile(r"skip(?: \((.*)\))?")
EXPIRES = re.compile(r"^(\s*expires: )\d{4}-\d{2}-\d{2}", re.MULTILINE)


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
            assert SKIP.fullmatch(marker) or EXIT.fullmatch(marker) or UNCHECKED.fullmatch(marker), (
                f"README line {block.line}: unknown marker {marker!r}"
            )


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
    expires = f"{(datetime.now(UTC) + timedelta(days=30)):%Y-%m-%d}"
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


@pytest.mark.parametrize(
    "block", [b for b in SHELL_BLOCKS if skip_reason(b) is None], ids=lambda b: f"line{b.line}"
)
def test_each_shell_block_of_the_readme_runs_as_written(block, tmp_path, cache_dir):
    checkout = fresh_checkout(tmp_path / "checkout")
    results = tmp_path / "results"
    results.mkdir()
    (tmp_path / "tmp").mkdir()
    commands = split_commands(block)
    venv_bin = str(Path(sys.executable).parent)
    env = {
        "PATH": f"{venv_bin}{os.pathsep}{os.environ.get('PATH', '/usr/bin:/bin')}",
        "HOME": str(tmp_path),
        "TMPDIR": str(tmp_path / "tmp"),
        "PYTHONPATH": str(checkout / "src"),
        "LEITPLANKE_DATA_DIR": str(tmp_path / "data"),  # SQLite in tmp
        "LEITPLANKE_CACHE_DIR": str(cache_dir),
        "LANG": "C.UTF-8",
    }
    run = subprocess.run(
        ["bash", "-c", build_script(commands, results)],
        cwd=checkout,
        env=env,
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
    assert wrong == [], f"README line {block.line}:\n" + "\n".join(wrong)


def test_the_example_catalog_is_the_one_the_demo_seeds():
    from leitplanke.cli import db

    text = (REPO / "examples" / "catalog.yaml").read_text(encoding="utf-8")
    body = "\n".join(line for line in text.splitlines() if not line.startswith("# ")) + "\n"

    assert body == db.DEMO_CATALOG
