"""Kyverno ``validate.podSecurity`` backed by our own Pod Security Standards packs.

Kyverno's control names map onto the ``PSS:`` controls our pss-baseline and pss-restricted
policies declare; a podSecurity rule fails when a policy of its level (and not excluded) fails,
judged by the rule's ``version`` of the standard. Called by ``compat.kyverno.validating``; the
packs' results come from ``evaluate``, given by the loader (``loading.PssPacks``, which compiles
the packs on first use).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from leitplanke.core import documents
from leitplanke.core.documents import Document, Origin
from leitplanke.core.results import Result, Verdict
from leitplanke.engine.compat.kyverno import scalars

# Kyverno's controlName → the PSS control suffixes our packs declare
CONTROLS: Mapping[str, tuple[str, ...]] = {
    "HostProcess": ("windowsHostProcess",),
    "Host Namespaces": ("hostNamespaces",),
    "Privileged Containers": ("privileged",),
    "Capabilities": ("capabilities",),
    "HostPath Volumes": ("hostPathVolumes",),
    "Host Ports": ("hostPorts",),
    "Host Probes / Lifecycle Hooks": ("hostProbesAndHostLifecycle",),
    "AppArmor": ("appArmorProfile",),
    "SELinux": ("seLinuxOptions",),
    "/proc Mount Type": ("procMount",),
    "Seccomp": ("seccompProfile",),
    "Sysctls": ("sysctls",),
    "Volume Types": ("restrictedVolumes",),
    "Privilege Escalation": ("allowPrivilegeEscalation",),
    "Running as Non-root": ("runAsNonRoot",),
    "Running as Non-root user": ("runAsUser",),
}
_KNOWN = {suffix for suffixes in CONTROLS.values() for suffix in suffixes}


class PodSecurity:
    """Kyverno's podSecurity checks, over the results ``evaluate`` gives for a document (the
    PSS packs' results)."""

    __slots__ = ("_evaluate",)

    def __init__(self, *, evaluate: Callable[[Document, str], Sequence[Result]]) -> None:
        self._evaluate = evaluate  # (document, version of the standard) → the packs' results

    def check(
        self,
        body: Mapping[str, Any],
        level: str,
        exclude: Sequence[Mapping[str, Any]],
        version: str = "latest",
    ) -> list[str]:
        """The messages of failing PSS controls of ``level`` at ``version`` (``latest`` or
        ``v1.N``) for ``body``, minus excluded ones."""
        levels = ("baseline",) if level == "baseline" else ("baseline", "restricted")
        excluded = _excluded(body, exclude)
        failures: list[str] = []
        for result in self._evaluate(Document(body=body, origin=Origin(file="")), version):
            if result.verdict is not Verdict.FAIL:
                continue
            controls = [c.removeprefix("PSS:") for c in result.controls if c.startswith("PSS:")]
            relevant = [c for c in controls if c.split("/", 1)[0] in levels and c.split("/", 1)[-1] in _KNOWN]
            if relevant and not all(c.split("/", 1)[-1] in excluded for c in relevant):
                failures.append(f"{result.policy}: {result.message}")
        return failures


def _excluded(body: Mapping[str, Any], exclude: Sequence[Mapping[str, Any]]) -> set[str]:
    spec = documents.pod_spec_of(body) or {}
    images = [
        str(c.get("image", ""))
        for group in ("containers", "initContainers", "ephemeralContainers")
        for c in spec.get(group) or []
        if isinstance(c, Mapping)
    ]
    found: set[str] = set()
    for entry in exclude:
        patterns = [str(p) for p in entry.get("images") or []]
        if patterns and not all(any(scalars.wildcard_match(p, i) for p in patterns) for i in images):
            continue
        found.update(CONTROLS.get(str(entry.get("controlName", "")), ()))
    return found
