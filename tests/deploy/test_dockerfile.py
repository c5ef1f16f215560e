"""The image (Dockerfile at the repository's root): a wheel built in one stage, installed in a slim one
run as uid 10001, with git for the agent's drift detection. Read, not built: no Docker daemon here."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).parents[2]


def _runtime_instructions(text: str) -> list[str]:
    """The instructions of the last stage, continuation lines joined."""
    runtime = text.split("\nFROM ")[-1]
    joined = re.sub(r"\\\n", " ", runtime)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.startswith("#")]


def test_the_dockerfile_builds_a_wheel_and_runs_it_as_uid_10001() -> None:
    text = (REPO / "Dockerfile").read_text(encoding="utf-8")
    stages = re.findall(r"^FROM (\S+)(?: AS (\w+))?$", text, flags=re.MULTILINE)
    assert stages == [("python:3.11-slim-bookworm", "build"), ("python:3.11-slim-bookworm", "")]
    runtime = text.split("\nFROM ")[2]
    assert "pip wheel" in text.split("\nFROM ")[1]
    assert re.findall(r"^USER (.+)$", runtime, flags=re.MULTILINE) == ["10001:10001"]
    assert re.findall(r"^ENTRYPOINT (.+)$", runtime, flags=re.MULTILINE) == ['["leitplanke"]']
    ignored = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    # the context is an allow-list of what the build stage copies
    assert [line for line in ignored if line.startswith("!")] == ["!pyproject.toml", "!README.md", "!src/"]
    assert re.findall(r"^COPY (?!--)(.+) \./", text, flags=re.MULTILINE) == [
        "pyproject.toml README.md",
        "src",
    ]


def test_the_image_installs_git_from_debian_without_recommends_before_it_drops_root() -> None:
    instructions = _runtime_instructions((REPO / "Dockerfile").read_text(encoding="utf-8"))
    installs = [line for line in instructions if "apt-get install" in line]
    assert len(installs) == 1
    commands = [" ".join(command.split()) for command in installs[0].removeprefix("RUN ").split("&&")]
    assert commands == [
        "apt-get update",
        "apt-get install -y --no-install-recommends git",
        "rm -rf /var/lib/apt/lists/*",
    ]
    user = next(n for n, line in enumerate(instructions) if line.startswith("USER "))
    assert instructions.index(installs[0]) < user
