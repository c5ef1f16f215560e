"""The organisation config file (``leitplanke.yaml``) and its per-policy overrides.

Parsed here into a ``Config`` value; the CLI reads the file and merges it with
command-line options; ``apply_overrides`` adjusts loaded policies before compiling.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from leitplanke.core.policies import Policy, Severity
from leitplanke.core.problems import Problem
from leitplanke.engine import parsing, yamlnodes

DEFAULT_FILE = "leitplanke.yaml"


@dataclass(frozen=True, slots=True)
class Override:
    severity: Severity | None = None
    enabled: bool | None = None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Config:
    packs: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()  # paths, already resolved against the config's folder
    waivers: tuple[str, ...] = ()
    fail_on: Severity | None = None
    max_waiver_days: int = parsing.DEFAULT_MAX_WAIVER_DAYS
    overrides: dict[str, Override] = field(default_factory=dict)
    file: str = ""
    # the ``admission:`` section as written: the webhook (``service/admissionmodes``) reads it
    admission: dict[str, Any] = field(default_factory=dict)


def load_config(path: Path) -> tuple[Config, list[Problem]]:
    problems: list[Problem] = []
    file = str(path)
    try:
        docs = list(yamlnodes.read_documents(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError) as exc:
        return Config(file=file), [Problem(file, 0, "unreadable", str(exc))]
    except yaml.YAMLError as exc:
        line, column = yamlnodes.error_position(exc)
        return Config(file=file), [Problem(file, line, "yaml-syntax", str(exc), column=column)]
    if len(docs) != 1 or not isinstance(docs[0].data, dict):
        return Config(file=file), [Problem(file, 1, "invalid-config", "the config must be one mapping")]
    doc = docs[0]
    f = parsing.Fields(doc, file, problems)
    base = path.parent
    fail_on = None
    if f.get("failOn") is not None:
        fail_on = parsing.read_severity(f, "failOn")
    max_days = f.get("maxWaiverDays")
    if max_days is not None and (not isinstance(max_days, int) or max_days <= 0):
        f.problem("maxWaiverDays", "invalid-field", "maxWaiverDays must be a positive integer")
        max_days = None
    overrides: dict[str, Override] = {}
    for policy_id in f.mapping("overrides"):
        overrides[str(policy_id)] = _override(f, f"overrides.{policy_id}")
    config = Config(
        packs=f.strings("packs"),
        policies=tuple(str(base / p) for p in f.strings("policies")),
        waivers=tuple(str(base / p) for p in f.strings("waivers")),
        fail_on=fail_on,
        max_waiver_days=max_days or parsing.DEFAULT_MAX_WAIVER_DAYS,
        overrides=overrides,
        file=file,
        admission=f.mapping("admission"),
    )
    return config, problems


def _override(f: parsing.Fields, path: str) -> Override:
    raw = f.mapping(path)
    severity = parsing.read_severity(f, f"{path}.severity") if "severity" in raw else None
    enabled = raw.get("enabled")
    if enabled is not None and not isinstance(enabled, bool):
        f.problem(f"{path}.enabled", "invalid-field", "enabled must be true or false")
        enabled = None
    return Override(severity=severity, enabled=enabled, params=f.mapping(f"{path}.params"))


def apply_overrides(policies: Sequence[Policy], config: Config) -> tuple[list[Policy], list[Problem]]:
    """Policies with the config's severity, enablement and params; unknown ids are reported."""
    known = {p.id for p in policies}
    problems = [
        Problem(
            config.file, 0, "unknown-policy", f"override for unknown policy {policy_id!r}", field="overrides"
        )
        for policy_id in sorted(config.overrides)
        if policy_id not in known
    ]
    result: list[Policy] = []
    for policy in policies:
        override = config.overrides.get(policy.id)
        if override is None:
            result.append(policy)
            continue
        params = {**policy.params, **override.params}
        result.append(
            replace(
                policy,
                severity=override.severity if override.severity is not None else policy.severity,
                enabled=override.enabled if override.enabled is not None else policy.enabled,
                params=params,
            )
        )
    return result, problems
