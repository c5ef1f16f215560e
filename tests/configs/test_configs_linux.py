"""sshd_config (Include, Match, loops), sysctl files and the host audit, against fixtures and this machine."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from leitplanke.core.documents import Document
from leitplanke.core.problems import Level, Problem
from leitplanke.sources import files, hosts
from leitplanke.sources.configs import sshd, sysctl

# the `failing` fixture of conftest.py: (policy, rule, file, line, verdict) of results that did not pass
Failing = Callable[..., set[tuple[str, str, str, int, str]]]


def _load(module: object, path: Path) -> list[object]:
    return list(module.load(str(path), path.read_bytes()))  # type: ignore[attr-defined]


def test_sshd_keeps_the_first_value_resolves_includes_and_keeps_match_blocks(tmp_path: Path) -> None:
    (tmp_path / "extra.conf").write_text("PasswordAuthentication no\nMatch User bob\n  PermitRootLogin yes\n")
    main = tmp_path / "sshd_config"
    main.write_text("PermitRootLogin no\nPermitRootLogin yes\nInclude extra.conf\nMaxAuthTries 3\n")
    [doc] = _load(sshd, main)
    assert isinstance(doc, Document)
    spec = doc.body["spec"]
    assert spec["settings"] == {"permitrootlogin": "no", "passwordauthentication": "no", "maxauthtries": "3"}
    assert spec["matches"] == [{"criteria": "User bob", "settings": {"permitrootlogin": "yes"}}]
    # settings of an included file point at the Include line; after the include, global again
    assert doc.origin.line_of("spec.settings.passwordauthentication") == 3
    assert doc.origin.line_of("spec.settings.maxauthtries") == 4
    assert doc.origin.line_of("spec.matches[0].settings.permitrootlogin") == 3


def test_an_include_loop_is_a_problem_and_the_rest_is_still_read(tmp_path: Path) -> None:
    main = tmp_path / "sshd_config"
    main.write_text(f"Include {main}\nPermitRootLogin no\n")
    found = _load(sshd, main)
    problems = [p for p in found if isinstance(p, Problem)]
    assert [(p.code, p.line) for p in problems] == [("include-loop", 1)]
    [doc] = [d for d in found if isinstance(d, Document)]
    assert doc.body["spec"]["settings"] == {"permitrootlogin": "no"}


def test_sysctl_files_keep_the_last_value_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "sysctl.conf"
    path.write_text(
        "# c\nnet/ipv4/ip_forward = 1\n; x\nkernel.dmesg_restrict=0\nkernel.dmesg_restrict = 1\nbad line\n"
    )
    found = _load(sysctl, path)
    assert [(p.code, p.line) for p in found if isinstance(p, Problem)] == [("sysctl-syntax", 6)]
    [doc] = [d for d in found if isinstance(d, Document)]
    assert doc.body["spec"]["parameters"] == {"net.ipv4.ip_forward": "1", "kernel.dmesg_restrict": "1"}
    assert doc.origin.line_of('spec.parameters["kernel.dmesg_restrict"]') == 5


def test_the_host_audit_reads_a_fake_root_and_warns_about_what_is_missing(tmp_path: Path) -> None:
    (tmp_path / "etc/ssh").mkdir(parents=True)
    (tmp_path / "etc/ssh/sshd_config").write_text("PermitRootLogin yes\n")
    (tmp_path / "etc/shadow").write_text("")
    os.chmod(tmp_path / "etc/shadow", 0o644)
    (tmp_path / "proc/sys/kernel").mkdir(parents=True)
    (tmp_path / "proc/sys/kernel/randomize_va_space").write_text("1\n")
    found = list(hosts.load_host(hosts.HostSource(str(tmp_path)), hostname="box"))
    docs = {d.display: d for d in found if isinstance(d, Document)}
    assert set(docs) == {
        "SshdConfig/sshd_config",
        "SysctlRuntime/box",
        "FilePermissions/etc-shadow",
        "FilePermissions/etc-ssh-sshd-config",
    }
    assert docs["SysctlRuntime/box"].body["spec"]["parameters"] == {"kernel.randomize_va_space": "1"}
    assert docs["FilePermissions/etc-shadow"].body["spec"]["mode"] == "0644"
    warnings = [p for p in found if isinstance(p, Problem)]
    assert [(p.code, p.level) for p in warnings] == [("missing-parameter", Level.WARNING)]


def test_the_real_host_audit_reports_what_this_machine_has() -> None:
    found = list(hosts.load_host(hostname="this-host"))
    docs = {d.display: d for d in found if isinstance(d, Document)}
    runtime = docs["SysctlRuntime/this-host"].body["spec"]["parameters"]
    with open("/proc/sys/kernel/randomize_va_space", encoding="utf-8") as stream:
        assert runtime["kernel.randomize_va_space"] == stream.read().strip()
    passwd = docs["FilePermissions/etc-passwd"].body["spec"]
    assert (passwd["path"], passwd["mode"]) == (
        "/etc/passwd",
        f"{os.stat('/etc/passwd').st_mode & 0o7777:04o}",
    )
    if not os.path.exists("/etc/ssh/sshd_config"):
        assert "SshdConfig/sshd_config" not in docs  # no OpenSSH server on this machine
    else:
        assert "SshdConfig/sshd_config" in docs


@pytest.mark.skipif(not os.path.exists("/etc/sysctl.conf"), reason="this machine has no /etc/sysctl.conf")
def test_the_real_sysctl_conf_loads_without_problems() -> None:
    found = _load(sysctl, Path("/etc/sysctl.conf"))
    assert [p for p in found if isinstance(p, Problem)] == []
    assert [d.kind for d in found if isinstance(d, Document)] == ["SysctlConfig"]


def test_sshd_include_fragments_are_loaded_once_in_a_walk_and_alone_when_named(
    tmp_path: Path, failing: Failing
) -> None:
    (tmp_path / "sshd_config.d").mkdir()
    main = tmp_path / "sshd_config"
    main.write_text("Include sshd_config.d/*.conf\nPermitRootLogin no\n")
    fragment = tmp_path / "sshd_config.d" / "50-cloud-init.conf"
    fragment.write_text("PasswordAuthentication yes\n")
    assert sshd.recognises(str(fragment), fragment.read_bytes())  # a walk would find it on its own

    assert list(files.iter_sources([str(tmp_path)])) == [files.Source("file", str(main))]
    found = {f for f in failing([str(tmp_path)], ["linux"]) if f[0] == "sshd-disable-password-authentication"}
    # the fragment's setting is judged once, at the Include line of the file that pulls it in
    assert found == {("sshd-disable-password-authentication", "global", str(main), 1, "fail")}
    alone = {f for f in failing([str(fragment)], ["linux"]) if f[0] == "sshd-disable-password-authentication"}
    assert alone == {("sshd-disable-password-authentication", "global", str(fragment), 1, "fail")}


def test_a_vlan_interface_keeps_the_dot_in_its_name_in_both_sysctl_forms(
    tmp_path: Path, failing: Failing
) -> None:
    path = tmp_path / "sysctl.conf"
    path.write_text(
        "net/ipv4/conf/eth0.100/accept_redirects = 1\n"
        "net.ipv4.conf.eth0/200.accept_redirects = 1\n"
        "net/ipv4/conf/all/send_redirects = 1\n"
        "kernel.dmesg_restrict = 1\n"
    )
    [doc] = [d for d in _load(sysctl, path) if isinstance(d, Document)]
    assert doc.body["spec"]["parameters"] == {
        "net.ipv4.conf.eth0/100.accept_redirects": "1",
        "net.ipv4.conf.eth0/200.accept_redirects": "1",
        "net.ipv4.conf.all.send_redirects": "1",
        "kernel.dmesg_restrict": "1",
    }
    redirects = {f for f in failing([str(path)], ["linux"]) if f[0] == "network-no-redirects"}
    assert redirects == {
        ("network-no-redirects", "accept-redirects", str(path), 1, "fail"),
        ("network-no-redirects", "accept-redirects", str(path), 2, "fail"),
        ("network-no-redirects", "send-redirects", str(path), 3, "fail"),
    }
