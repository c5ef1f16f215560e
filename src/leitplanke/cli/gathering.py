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

# ``--pack none``: no built-in pack, only the policies of ``--policies`` (or the config file)
NO_PACKS = "none"

# the options of commands that gather policies (``scan``, ``fix``, ``policies``, ``policies docs``)
PoliciesOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--policies",
        "-p",
        metavar="PATH",
        help="Policy file or directory (repeatable). Adds to the built-in packs; --pack none runs "
        "only these. A policy named like a built-in one replaces it, with a notice.",
    ),
]
PackOpt = Annotated[
    list[str] | None, typer.Option("--pack", metavar="PACK", help="Built-in pack to run (repeatable).")
]
ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", metavar="FILE", help="Organisation config file (default: ./leitplanke.yaml)."),
]


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
    packs: list[str] = field(default_factory=list)  # the built-in packs that ran
    policy_paths: list[str] = field(default_factory=list)  # and the user's policy sources
    notices: list[str] = field(default_factory=list)  # a user's policy replacing a built-in one

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
    with_default_packs: bool = True,
) -> Gathered:
    """The policies of ``packs`` (else the config's, else the default packs) and of
    ``policy_paths`` (else the config's), added together; a user's policy replaces a built-in one
    of the same name. ``with_default_packs=False`` (``policies lint``): paths alone run alone."""
    config, problems = _config(config_path)
    chosen_paths = list(policy_paths) or list(config.policies)
    chosen_packs = choose_packs(packs or config.packs, paths=chosen_paths, with_default=with_default_packs)
    gathered = Gathered(config=config, problems=problems, packs=chosen_packs, policy_paths=chosen_paths)
    built_in = loading.load_packs(chosen_packs, now=now)
    own = loading.load_paths(chosen_paths, now=now, max_waiver_days=config.max_waiver_days)
    gathered.notices = _drop_replaced(built_in, own)
    loaded = built_in
    loaded.extend(own)
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


def choose_packs(chosen: Sequence[str], *, paths: Sequence[str], with_default: bool = True) -> list[str]:
    """The packs to run: those chosen (``none`` chooses none), else the default packs; without
    ``with_default``, policy paths alone mean no pack."""
    if chosen:
        return [name for name in dict.fromkeys(chosen) if name != NO_PACKS]
    if paths and not with_default:
        return []
    return loading.default_packs()


def _drop_replaced(built_in: loading.Loaded, own: loading.Loaded) -> list[str]:
    """Remove from ``built_in`` the policies ``own`` defines again; a notice for each."""
    mine = {p.id: p.source for p in own.policies} | {f.policy.id: f.policy.source for f in own.foreign}
    notices = [
        f"policy {p.id!r} of {mine[p.id].file}:{mine[p.id].line} replaces the built-in one of pack {p.pack}"
        for p in built_in.policies
        if p.id in mine
    ]
    built_in.policies = [p for p in built_in.policies if p.id not in mine]
    built_in.foreign = [f for f in built_in.foreign if f.policy.id not in mine]
    return notices


def describe_sources(gathered: Gathered) -> str:
    """``84 policies: 82 from packs pss-baseline, hardening; 2 from my-policies``: what a scan ran."""
    running = [p for p in gathered.policies if p.enabled] + [f.policy for f in gathered.foreign]
    parts = []
    if gathered.packs:
        in_packs = sum(1 for p in running if p.pack)
        parts.append(f"{in_packs} from packs {', '.join(gathered.packs)}")
    for path in gathered.policy_paths:
        under = sum(1 for p in running if not p.pack and _is_under(p.source.file, path))
        parts.append(f"{under} from {path}")
    if not gathered.packs:
        parts.append("no built-in pack")
    count = len(running)
    return f"{count} {'policy' if count == 1 else 'policies'}: {'; '.join(parts)}"


def _is_under(file: str, path: str) -> bool:
    given, found = Path(path), Path(file)
    return found == given or given in found.parents


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


def compile_gathered(gathered: Gathered, *, cached: bool = True) -> engine.PolicySet:
    """The gathered policies compiled. ``cached=False`` for a process that forks workers: a program
    read back from the cache is only decoded at its first use, in each worker on its own, while one
    compiled here is shared by every worker (copy-on-write) and costs a new worker nothing."""
    policy_set = engine.compile(
        gathered.policies,
        options=engine.CompileOptions(
            foreign=tuple(gathered.foreign),
            broken=tuple(gathered.broken),
            cache=settings.cache_directory() if cached else None,
        ),
    )
    gathered.problems.extend(policy_set.problems)
    gathered.broken = list(policy_set.broken)
    return policy_set
