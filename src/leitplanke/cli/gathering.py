"""Gathering policies and waivers for a command from options, packs and the config file.

Shared by ``scan``, ``policies`` and ``test``, with the options they share; returns values
and problems, never exits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from leitplanke import engine, settings
from leitplanke.core.policies import BrokenPolicy, Policy
from leitplanke.core.problems import Level, Problem
from leitplanke.core.waivers import Waiver
from leitplanke.engine import compiling, configuring, loading

# the options of commands that gather policies (``scan``, ``policies``, ``policies docs``)
PoliciesOpt = Annotated[list[str] | None, typer.Option("--policies", "-p", help="Policy file or directory.")]
PackOpt = Annotated[list[str] | None, typer.Option("--pack", help="Built-in pack (repeatable).")]
ConfigOpt = Annotated[str | None, typer.Option("--config", help="Organisation config file.")]


@dataclass(slots=True)
class Gathered:
    config: configuring.Config
    policies: list[Policy] = field(default_factory=list)
    foreign: list[compiling.CompiledPolicy] = field(default_factory=list)  # Kyverno policies, built
    waivers: list[Waiver] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    # policies that could not be read or converted: their problems are in ``problems`` too,
    # and they need not stop a scan (``fatal`` leaves them out)
    broken: list[BrokenPolicy] = field(default_factory=list)

    @property
    def has_errors(self) -> bool:
        return any(p.level is Level.ERROR for p in self.problems)

    @property
    def fatal(self) -> list[Problem]:
        """Errors that stop any run: a missing path, an unknown pack, a bad config or waiver;
        not those of a policy that could not be read or compiled (it is reported, the rest run)."""
        owned = {problem for broken in self.broken for problem in broken.problems}
        return [p for p in self.problems if p.level is Level.ERROR and p not in owned]


def gather(
    *,
    policy_paths: Sequence[str],
    packs: Sequence[str],
    waiver_paths: Sequence[str],
    config_path: str | None,
    now: datetime,
) -> Gathered:
    config, problems = _config(config_path)
    chosen_packs = list(packs) or list(config.packs)
    chosen_paths = list(policy_paths) or list(config.policies)
    if not chosen_packs and not chosen_paths:
        chosen_packs = loading.default_packs()  # no choice made
    gathered = Gathered(config=config, problems=problems)
    loaded = loading.load_packs(chosen_packs, now=now)
    loaded.extend(loading.load_paths(chosen_paths, now=now, max_waiver_days=config.max_waiver_days))
    waivers = loading.load_paths(
        [*waiver_paths, *config.waivers], now=now, max_waiver_days=config.max_waiver_days
    )
    loaded.extend(waivers)
    policies, override_problems = configuring.apply_overrides(loaded.policies, config)
    gathered.policies = policies
    gathered.foreign = loaded.foreign
    gathered.waivers = loaded.waivers
    gathered.broken = loaded.broken
    gathered.problems.extend(loaded.problems + override_problems)
    return gathered


def _config(config_path: str | None) -> tuple[configuring.Config, list[Problem]]:
    if config_path is None:
        default = Path(configuring.DEFAULT_FILE)
        if not default.is_file():
            return configuring.Config(), []
        return configuring.load_config(default)
    path = Path(config_path)
    if not path.is_file():
        return configuring.Config(file=config_path), [
            Problem(config_path, 0, "not-found", "no such config file")
        ]
    return configuring.load_config(path)


def compile_gathered(gathered: Gathered) -> engine.PolicySet:
    policy_set = engine.compile(
        gathered.policies,
        options=engine.CompileOptions(
            foreign=tuple(gathered.foreign), broken=tuple(gathered.broken), cache=settings.cache_directory()
        ),
    )
    gathered.problems.extend(policy_set.problems)
    gathered.broken = list(policy_set.broken)
    return policy_set
