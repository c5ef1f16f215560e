"""The PSS packs control by control as the standard defines them at v1.37, and at each version boundary.

A compliant restricted pod is tweaked to break one control. Baseline controls are judged by the
pss-baseline pack alone (pss-restricted reports some of the same fields again, as the standard lists
them under both profiles); restricted controls by both packs, as the restricted profile is both.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache
from typing import Any

import pytest

from leitplanke import engine
from leitplanke.core.results import Verdict
from leitplanke.engine import loading, pssversions

NOW = datetime(2025, 6, 1, tzinfo=UTC)

BASELINE = ("pss-baseline",)
BOTH = ("pss-baseline", "pss-restricted")
Failing = set[tuple[str, str]]


@cache
def policy_set(packs: tuple[str, ...]) -> engine.PolicySet:
    loaded = loading.load_packs(packs, now=NOW)
    assert loaded.problems == []
    compiled = engine.compile(loaded.policies)
    assert list(compiled.problems) == []
    return compiled


def failing(pod: dict[str, Any], *, packs: tuple[str, ...], version: str = "latest") -> Failing:
    results = engine.evaluate(policy_set(packs), pod, context=engine.Context(pss_version=version))
    assert [r for r in results if r.verdict is Verdict.ERROR] == []
    return {(r.policy, r.rule) for r in results if r.verdict is Verdict.FAIL}


def restricted_pod() -> dict[str, Any]:
    """A pod every version of both profiles accepts."""
    secure = {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "app", "namespace": "team"},
        "spec": {
            "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [{"name": "init", "image": "busybox:1.36", "securityContext": dict(secure)}],
            "containers": [{"name": "app", "image": "nginx:1.27", "securityContext": copy.deepcopy(secure)}],
            "volumes": [{"name": "scratch", "emptyDir": {}}, {"name": "config", "configMap": {"name": "c"}}],
        },
    }


def tweaked(change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    pod = restricted_pod()
    change(pod)
    return pod


def spec(pod: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = pod["spec"]
    return value


def app(pod: dict[str, Any]) -> dict[str, Any]:
    value: dict[str, Any] = pod["spec"]["containers"][0]
    return value


def annotate(pod: dict[str, Any], key: str, value: str) -> None:
    pod["metadata"].setdefault("annotations", {})[key] = value


APPARMOR = "container.apparmor.security.beta.kubernetes.io/app"
SECCOMP_POD = "seccomp.security.alpha.kubernetes.io/pod"

# (control, change to the compliant pod, the one (policy, rule) that fails)
BASELINE_CONTROLS: list[tuple[str, Callable[[dict[str, Any]], None], tuple[str, str]]] = [
    (
        "hostNetwork",
        lambda p: spec(p).update(hostNetwork=True),
        ("disallow-host-namespaces", "no-host-network"),
    ),
    ("hostPID", lambda p: spec(p).update(hostPID=True), ("disallow-host-namespaces", "no-host-pid")),
    ("hostIPC", lambda p: spec(p).update(hostIPC=True), ("disallow-host-namespaces", "no-host-ipc")),
    (
        "privileged",
        lambda p: app(p)["securityContext"].update(privileged=True),
        ("disallow-privileged-containers", "no-privileged-containers"),
    ),
    (
        "capabilities",
        lambda p: app(p)["securityContext"]["capabilities"].update(add=["NET_RAW"]),
        ("restrict-added-capabilities", "baseline-capabilities-only"),
    ),
    (
        "hostPathVolumes",
        lambda p: spec(p)["volumes"].append({"name": "root", "hostPath": {"path": "/"}}),
        ("disallow-host-path", "no-host-path-volumes"),
    ),
    (
        "hostPorts",
        lambda p: app(p).update(ports=[{"containerPort": 80, "hostPort": 8080}]),
        ("disallow-host-ports", "no-host-ports"),
    ),
    (
        "appArmorProfile (pod field)",
        lambda p: spec(p)["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
        ("restrict-apparmor-profiles", "apparmor-pod-profile"),
    ),
    (
        "appArmorProfile (container field)",
        lambda p: app(p)["securityContext"].update(appArmorProfile={"type": "Unconfined"}),
        ("restrict-apparmor-profiles", "apparmor-container-profiles"),
    ),
    (
        "appArmorProfile (annotation)",
        lambda p: annotate(p, APPARMOR, "unconfined"),
        ("restrict-apparmor-profiles", "apparmor-annotations"),
    ),
    (
        "seLinuxOptions type (pod)",
        lambda p: spec(p)["securityContext"].update(seLinuxOptions={"type": "spc_t"}),
        ("restrict-selinux-options", "selinux-pod-type"),
    ),
    (
        "seLinuxOptions type (container)",
        lambda p: app(p)["securityContext"].update(seLinuxOptions={"type": "unconfined_t"}),
        ("restrict-selinux-options", "selinux-container-types"),
    ),
    (
        "seLinuxOptions user (pod)",
        lambda p: spec(p)["securityContext"].update(seLinuxOptions={"user": "system_u"}),
        ("restrict-selinux-options", "selinux-pod-user-role"),
    ),
    (
        "seLinuxOptions role (container)",
        lambda p: app(p)["securityContext"].update(seLinuxOptions={"role": "system_r"}),
        ("restrict-selinux-options", "selinux-container-user-role"),
    ),
    (
        "procMount",
        lambda p: app(p)["securityContext"].update(procMount="Unmasked"),
        ("require-default-proc-mount", "default-proc-mount"),
    ),
    (
        "seccompProfile (pod)",
        lambda p: spec(p)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        ("restrict-seccomp-profiles", "seccomp-pod-profile"),
    ),
    (
        "seccompProfile (container)",
        lambda p: app(p)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        ("restrict-seccomp-profiles", "seccomp-container-profiles"),
    ),
    (
        "sysctls",
        lambda p: spec(p)["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "65536"}]),
        ("restrict-sysctls", "safe-sysctls-only"),
    ),
    (
        "windowsHostProcess (pod)",
        lambda p: spec(p)["securityContext"].update(windowsOptions={"hostProcess": True}),
        ("disallow-host-process", "no-host-process-pod"),
    ),
    (
        "windowsHostProcess (container)",
        lambda p: app(p)["securityContext"].update(windowsOptions={"hostProcess": True}),
        ("disallow-host-process", "no-host-process-containers"),
    ),
    (
        "hostProbesAndHostLifecycle (probe)",
        lambda p: app(p).update(readinessProbe={"tcpSocket": {"host": "169.254.169.254", "port": 80}}),
        ("disallow-probe-and-lifecycle-hosts", "no-probe-host"),
    ),
    (
        "hostProbesAndHostLifecycle (lifecycle)",
        lambda p: app(p).update(lifecycle={"preStop": {"httpGet": {"host": "10.0.0.1", "port": 80}}}),
        ("disallow-probe-and-lifecycle-hosts", "no-lifecycle-host"),
    ),
]

RESTRICTED_CONTROLS: list[tuple[str, Callable[[dict[str, Any]], None], tuple[str, str]]] = [
    (
        "restrictedVolumes",
        lambda p: spec(p)["volumes"].append({"name": "share", "nfs": {"server": "nfs", "path": "/"}}),
        ("restrict-volume-types", "allowed-volume-types"),
    ),
    (
        "allowPrivilegeEscalation",
        lambda p: app(p)["securityContext"].pop("allowPrivilegeEscalation"),
        ("disallow-privilege-escalation", "no-privilege-escalation"),
    ),
    (
        "runAsNonRoot (pod false)",
        lambda p: (
            spec(p)["securityContext"].update(runAsNonRoot=False),
            [c["securityContext"].update(runAsNonRoot=True) for c in spec(p)["initContainers"] + [app(p)]],
        ),
        ("require-run-as-non-root", "run-as-non-root-pod"),
    ),
    (
        "runAsNonRoot (unset)",
        lambda p: spec(p)["securityContext"].pop("runAsNonRoot"),
        ("require-run-as-non-root", "run-as-non-root-containers"),
    ),
    (
        "runAsUser (pod)",
        lambda p: spec(p)["securityContext"].update(runAsUser=0),
        ("disallow-run-as-root-user", "run-as-user-pod"),
    ),
    (
        "runAsUser (container)",
        lambda p: app(p)["securityContext"].update(runAsUser=0),
        ("disallow-run-as-root-user", "run-as-user-containers"),
    ),
    (
        "seccompProfile (unset)",
        lambda p: spec(p)["securityContext"].pop("seccompProfile"),
        ("require-seccomp-profile", "seccomp-profile-set"),
    ),
    (
        "capabilities (drop)",
        lambda p: app(p)["securityContext"]["capabilities"].update(drop=["NET_RAW"]),
        ("require-drop-all-capabilities", "drop-all"),
    ),
    (
        "capabilities (add)",
        lambda p: app(p)["securityContext"]["capabilities"].update(add=["CHOWN"]),
        ("require-drop-all-capabilities", "add-only-net-bind-service"),
    ),
    (
        "procMount in a user namespace",
        lambda p: (spec(p).update(hostUsers=False), app(p)["securityContext"].update(procMount="Unmasked")),
        ("require-default-proc-mount-restricted", "default-proc-mount"),
    ),
]


def test_the_compliant_pod_passes_both_profiles_at_every_version() -> None:
    for minor in range(pssversions.LATEST_MINOR + 1):
        assert failing(restricted_pod(), packs=BOTH, version=f"v1.{minor}") == set(), minor


@pytest.mark.parametrize(
    ("control", "change", "rule"), BASELINE_CONTROLS, ids=[c[0] for c in BASELINE_CONTROLS]
)
def test_a_pod_breaking_one_baseline_control_fails_exactly_that_rule(
    control: str, change: Callable[[dict[str, Any]], None], rule: tuple[str, str]
) -> None:
    assert failing(tweaked(change), packs=BASELINE) == {rule}


@pytest.mark.parametrize(
    ("control", "change", "rule"), RESTRICTED_CONTROLS, ids=[c[0] for c in RESTRICTED_CONTROLS]
)
def test_a_pod_breaking_one_restricted_control_fails_exactly_that_rule(
    control: str, change: Callable[[dict[str, Any]], None], rule: tuple[str, str]
) -> None:
    assert failing(tweaked(change), packs=BOTH) == {rule}


def change_of(control: str) -> Callable[[dict[str, Any]], None]:
    return next(change for name, change, _ in BASELINE_CONTROLS + RESTRICTED_CONTROLS if name == control)


def rule_of(control: str) -> tuple[str, str]:
    return next(rule for name, _, rule in BASELINE_CONTROLS + RESTRICTED_CONTROLS if name == control)


def with_sysctl(name: str) -> Callable[[dict[str, Any]], None]:
    return lambda p: spec(p)["securityContext"].update(sysctls=[{"name": name, "value": "1"}])


def windows_pod_without_linux_settings(pod: dict[str, Any]) -> None:
    spec(pod)["os"] = {"name": "windows"}
    spec(pod)["securityContext"].pop("seccompProfile")
    for container in spec(pod)["initContainers"] + [app(pod)]:
        container["securityContext"] = {}


def user_namespace_root(pod: dict[str, Any]) -> None:
    spec(pod)["hostUsers"] = False
    spec(pod)["securityContext"] = {"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}}


SYSCTLS = "restrict-sysctls", "safe-sysctls-only"
# (boundary, packs, change, the minor the standard changed in, failing before, failing from it)
BOUNDARIES: list[tuple[str, tuple[str, ...], Callable[[dict[str, Any]], None], int, Failing, Failing]] = [
    (
        "allowPrivilegeEscalation required",
        BOTH,
        change_of("allowPrivilegeEscalation"),
        8,
        set(),
        {rule_of("allowPrivilegeEscalation")},
    ),
    (
        "seccomp annotations give way to fields (annotation)",
        BASELINE,
        lambda p: annotate(p, SECCOMP_POD, "unconfined"),
        19,
        {("restrict-seccomp-profiles", "seccomp-annotations")},
        set(),
    ),
    (
        "seccomp annotations give way to fields (field)",
        BASELINE,
        change_of("seccompProfile (pod)"),
        19,
        set(),
        {("restrict-seccomp-profiles", "seccomp-pod-profile")},
    ),
    (
        "seccomp profile required",
        BOTH,
        change_of("seccompProfile (unset)"),
        19,
        set(),
        {rule_of("seccompProfile (unset)")},
    ),
    (
        "capabilities dropped",
        BOTH,
        change_of("capabilities (drop)"),
        22,
        set(),
        {("require-drop-all-capabilities", "drop-all")},
    ),
    ("runAsUser 0 forbidden", BOTH, change_of("runAsUser (pod)"), 23, set(), {rule_of("runAsUser (pod)")}),
    (
        "Windows pods exempt from Linux-only controls",
        BOTH,
        windows_pod_without_linux_settings,
        25,
        {
            ("disallow-privilege-escalation", "no-privilege-escalation"),
            ("require-drop-all-capabilities", "drop-all"),
            ("require-seccomp-profile", "seccomp-profile-set"),
        },
        set(),
    ),
    (
        "ip_local_reserved_ports safe",
        BASELINE,
        with_sysctl("net.ipv4.ip_local_reserved_ports"),
        27,
        {SYSCTLS},
        set(),
    ),
    ("tcp_keepalive_time safe", BASELINE, with_sysctl("net.ipv4.tcp_keepalive_time"), 29, {SYSCTLS}, set()),
    ("tcp_fin_timeout safe", BASELINE, with_sysctl("net.ipv4.tcp_fin_timeout"), 29, {SYSCTLS}, set()),
    ("tcp_keepalive_intvl safe", BASELINE, with_sysctl("net.ipv4.tcp_keepalive_intvl"), 29, {SYSCTLS}, set()),
    (
        "tcp_keepalive_probes safe",
        BASELINE,
        with_sysctl("net.ipv4.tcp_keepalive_probes"),
        29,
        {SYSCTLS},
        set(),
    ),
    (
        "SELinux container_engine_t allowed",
        BASELINE,
        lambda p: app(p)["securityContext"].update(seLinuxOptions={"type": "container_engine_t"}),
        31,
        {("restrict-selinux-options", "selinux-container-types")},
        set(),
    ),
    ("tcp_rmem safe", BASELINE, with_sysctl("net.ipv4.tcp_rmem"), 32, {SYSCTLS}, set()),
    ("tcp_wmem safe", BASELINE, with_sysctl("net.ipv4.tcp_wmem"), 32, {SYSCTLS}, set()),
    (
        "probe hosts forbidden",
        BASELINE,
        change_of("hostProbesAndHostLifecycle (probe)"),
        34,
        set(),
        {("disallow-probe-and-lifecycle-hosts", "no-probe-host")},
    ),
    (
        "lifecycle hosts forbidden",
        BASELINE,
        change_of("hostProbesAndHostLifecycle (lifecycle)"),
        34,
        set(),
        {("disallow-probe-and-lifecycle-hosts", "no-lifecycle-host")},
    ),
    (
        "baseline procMount relaxed in user namespaces",
        BASELINE,
        change_of("procMount in a user namespace"),
        35,
        {("require-default-proc-mount", "default-proc-mount")},
        set(),
    ),
    (
        "restricted procMount not relaxed in user namespaces",
        BOTH,
        change_of("procMount in a user namespace"),
        35,
        {
            ("require-default-proc-mount", "default-proc-mount"),
            ("require-default-proc-mount-restricted", "default-proc-mount"),
        },
        {("require-default-proc-mount-restricted", "default-proc-mount")},
    ),
    (
        "runAsNonRoot and runAsUser relaxed in user namespaces",
        BOTH,
        user_namespace_root,
        35,
        {
            ("disallow-run-as-root-user", "run-as-user-pod"),
            ("require-run-as-non-root", "run-as-non-root-containers"),
        },
        set(),
    ),
    (
        "tcp_slow_start_after_idle safe",
        BASELINE,
        with_sysctl("net.ipv4.tcp_slow_start_after_idle"),
        37,
        {SYSCTLS},
        set(),
    ),
    ("tcp_notsent_lowat safe", BASELINE, with_sysctl("net.ipv4.tcp_notsent_lowat"), 37, {SYSCTLS}, set()),
]


@pytest.mark.parametrize(
    ("boundary", "packs", "change", "minor", "before", "since"), BOUNDARIES, ids=[b[0] for b in BOUNDARIES]
)
def test_the_same_pod_is_judged_differently_on_either_side_of_the_version_the_standard_changed_in(
    boundary: str,
    packs: tuple[str, ...],
    change: Callable[[dict[str, Any]], None],
    minor: int,
    before: Failing,
    since: Failing,
) -> None:
    pod = tweaked(change)
    assert failing(pod, packs=packs, version=f"v1.{minor - 1}") == before
    assert failing(pod, packs=packs, version=f"v1.{minor}") == since
    assert failing(pod, packs=packs, version="latest") == since


def test_a_version_newer_than_the_packs_is_judged_as_the_latest() -> None:
    pod = tweaked(with_sysctl("net.ipv4.tcp_notsent_lowat"))
    assert failing(pod, packs=BASELINE, version="v1.99") == set()
    assert failing(pod, packs=BASELINE, version="v1.36") == {SYSCTLS}


def test_the_sysctl_safe_set_of_v1_37_is_the_standards_fourteen_names() -> None:
    sysctls = next(p for p in loading.load_packs(BASELINE, now=NOW).policies if p.id == "restrict-sysctls")
    allowed = sysctls.params["allowedSysctls"]
    assert sorted(name for name, since in allowed.items() if since <= 37) == [
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.ping_group_range",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_notsent_lowat",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_slow_start_after_idle",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.tcp_wmem",
    ]


def test_yaml_words_kubernetes_reads_as_true_break_the_controls_they_name(tmp_path: Any) -> None:
    """``privileged: y`` and ``hostNetwork: on`` are true for kubectl (sigs.k8s.io/yaml on go-yaml v2),
    so the pod they are in is privileged and on the host's network: the scan of the file says so."""
    from leitplanke.sources import files

    manifest = tmp_path / "pod.yaml"
    manifest.write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: app, namespace: team}\n"
        "spec:\n  hostNetwork: on\n  containers:\n  - name: app\n    image: nginx:1.27\n"
        "    securityContext: {privileged: y}\n"
    )
    (document,) = files.load_path(str(manifest))
    results = engine.evaluate(policy_set(BASELINE), document)
    assert sorted((r.policy, r.rule, r.location.line) for r in results if r.verdict is Verdict.FAIL) == [
        ("disallow-host-namespaces", "no-host-network", 5),
        ("disallow-privileged-containers", "no-privileged-containers", 9),
    ]
