"""``leitplanke drift`` as a shell runs it: the table and the JSON of a comparison, its exit codes, refusals
of bad input, and ``--upload`` to a real ``leitplanke serve``, where drift becomes findings of the app."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from driftcases import CLUSTER_MADE, LIVE, write

import leitplanke
from leitplanke import catalog
from leitplanke.governance import access
from leitplanke.store import databases

SOURCE = str(Path(leitplanke.__file__).resolve().parents[1])
NOW = datetime(2026, 2, 1, 12, 0, tzinfo=UTC)
sys.path.insert(0, str(Path(__file__).parents[1] / "service"))
import serviceprocesses  # noqa: E402  # the helper of the service tests that starts a real serve


def run_drift(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")])}
    env.pop("LEITPLANKE_TOKEN", None)
    for name in ("FORCE_COLOR", "CLICOLOR_FORCE", "COLUMNS"):
        env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", "drift", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env=env,
    )


@pytest.fixture
def live(tmp_path: Path) -> Path:
    """Only the app's own objects (the conftest's live exports hold cluster-made ones too)."""
    exports = tmp_path / "live"
    write(exports, {"shop.yaml": LIVE})
    return exports


def test_a_live_state_in_sync_with_the_tag_exits_0_with_a_table(
    repo: Path, live: Path, tmp_path: Path
) -> None:
    done = run_drift(
        "--repo", str(repo), "--path", "apps/plain", "--revision", "v1", "--live", str(live), cwd=tmp_path
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout == (
        "STATUS   KIND        NAMESPACE  NAME\n"
        "in-sync  Deployment  shop       web\n"
        "in-sync  Service     shop       web\n"
        "\n"
        "2 in-sync, 0 drifted, 0 missing, 0 extra\n"
    )


def test_drift_and_an_extra_object_exit_1_with_the_diff(repo: Path, live: Path, tmp_path: Path) -> None:
    write(live, {"cluster-made.yaml": CLUSTER_MADE})
    done = run_drift(
        "--repo", str(repo), "--path", "apps/plain", "--revision", "main", "--live", str(live), cwd=tmp_path
    )
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.splitlines() == [
        "STATUS   KIND        NAMESPACE  NAME",
        "extra    ConfigMap   shop       hotfix",
        "drifted  Deployment  shop       web",
        "in-sync  Service     shop       web",
        "",
        "--- desired/Deployment/shop/web",
        "+++ live/Deployment/shop/web",
        "@@ -12,7 +12,7 @@",
        "         app: web",
        "     spec:",
        "       containers:",
        "-      - image: nginx:1.28",
        "+      - image: nginx:1.27",
        "         name: web",
        "         resources:",
        "           limits:",
        "",
        "1 in-sync, 1 drifted, 0 missing, 1 extra",
    ]


def test_the_json_format_holds_every_result_and_the_summary(repo: Path, live: Path, tmp_path: Path) -> None:
    done = run_drift(
        "--repo",
        str(repo),
        "--path",
        "apps/plain",
        "--revision",
        "main",
        "--live",
        str(live),
        "-f",
        "json",
        cwd=tmp_path,
    )
    assert done.returncode == 1
    report = json.loads(done.stdout)
    assert report["schemaVersion"] == "leitplanke.dev/drift/v1"
    assert report["summary"] == {"in-sync": 1, "drifted": 1, "missing": 0, "extra": 0}
    assert [
        (r["status"], r["resource"]["kind"], r["resource"]["name"], r["diff"] != "")
        for r in report["results"]
    ] == [
        ("drifted", "Deployment", "web", True),
        ("in-sync", "Service", "web", False),
    ]
    assert report["problems"] == []


def test_an_ignore_file_hides_the_drift_it_names(repo: Path, live: Path, tmp_path: Path) -> None:
    rules = tmp_path / "ignore.yaml"
    rules.write_text(
        "- group: apps\n  kind: Deployment\n  jqPathExpressions: ['.spec.template.spec.containers[].image']\n"
    )
    done = run_drift(
        "--repo", str(repo), "--path", "apps/plain", "--revision", "main", "--live", str(live),
        "--ignore-file", str(rules), cwd=tmp_path,
    )  # fmt: skip
    assert (done.returncode, done.stdout.splitlines()[-1]) == (0, "2 in-sync, 0 drifted, 0 missing, 0 extra")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--format", "sarif"), "leitplanke: --format 'sarif': use table or json"),
        (("--revision", "-x"), "leitplanke: --revision '-x': expected a branch, tag or commit"),
        (
            ("--app", "checkout"),
            "leitplanke: --app and --env name what --upload sends; without --upload they do nothing",
        ),
        (
            ("--upload", "ftp://x"),
            "leitplanke: --upload 'ftp://x': expected the service's URL, http:// or https://",
        ),
        (
            ("--upload", "http://127.0.0.1:9"),
            "leitplanke: --upload needs --app, --env and an API token (--token-file PATH, the environment variable "
            "LEITPLANKE_TOKEN or --token)",
        ),
    ],
)
def test_bad_options_exit_2_before_any_work(
    repo: Path, live: Path, tmp_path: Path, extra: tuple[str, ...], message: str
) -> None:
    done = run_drift("--repo", str(repo), "--path", "apps/plain", "--live", str(live), *extra, cwd=tmp_path)
    assert (done.returncode, done.stdout, done.stderr.splitlines()) == (2, "", [message])


def test_an_unknown_revision_exits_2_with_gits_own_words(repo: Path, live: Path, tmp_path: Path) -> None:
    done = run_drift(
        "--repo", str(repo), "--path", "apps/plain", "--revision", "nope", "--live", str(live), cwd=tmp_path
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(
        "leitplanke: git archive nope exited with 128: fatal: not a valid object name"
    )


def test_a_bad_ignore_file_exits_2_naming_each_bad_field(repo: Path, live: Path, tmp_path: Path) -> None:
    rules = tmp_path / "ignore.yaml"
    rules.write_text("- {kind: Deployment, jsonPointers: [spec/replicas]}\n")
    done = run_drift(
        "--repo",
        str(repo),
        "--path",
        "apps/plain",
        "--live",
        str(live),
        "--ignore-file",
        str(rules),
        cwd=tmp_path,
    )
    assert (done.returncode, done.stderr.splitlines()) == (
        2,
        [
            f"leitplanke: --ignore-file {rules}: 1 bad rule(s)",
            f"{rules}: error drift-ignore [ignoreDifferences[0].jsonPointers[0]]: a JSON pointer starts with /",
        ],
    )


def test_a_name_with_terminal_control_characters_is_shown_harmlessly(
    repo: Path, live: Path, tmp_path: Path
) -> None:
    write(
        live,
        {
            "evil.yaml": 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: "x\\e]0;owned\\a", namespace: shop}\n'
        },
    )
    done = run_drift(
        "--repo", str(repo), "--path", "apps/plain", "--revision", "v1", "--live", str(live), cwd=tmp_path
    )
    assert "extra    ConfigMap   shop       x\ufffd]0;owned\ufffd" in done.stdout.splitlines()
    assert "\x1b" not in done.stdout


class Server:
    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token

    def get(self, path: str) -> Any:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        connection.request("GET", path, headers={"Authorization": f"Bearer {self.token}"})
        response = connection.getresponse()
        assert response.status == 200
        return json.loads(response.read())


@pytest.fixture
def server(tmp_path: Path, catalog_yaml: str, audit_keys: object) -> Iterator[Server]:
    """``leitplanke serve`` on a fresh SQLite file with the test catalog and a developer token of team-shop."""
    url = f"sqlite:///{tmp_path / 'server.db'}"
    database = databases.Database(url, audit=audit_keys)
    databases.upgrade(database)
    parsed, problems = catalog.parse_catalog(catalog_yaml)
    assert problems == []
    catalog.apply_catalog(database, parsed, actor="test", now=NOW)
    token = access.create_token(
        database, subject="service:ci", name="ci", role="developer", team="team-shop", actor="t", now=NOW
    )
    database.dispose()
    port = serviceprocesses.free_port()
    env = {
        **os.environ,
        "LEITPLANKE_DATABASE_URL": url,
        "LEITPLANKE_DATA_DIR": str(tmp_path),
        "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")]),
    }
    leitplanke_bin = str(Path(sys.executable).with_name("leitplanke"))
    with serviceprocesses.serving(
        [leitplanke_bin, "serve", "--port", str(port)], port=port, cwd=tmp_path, env=env
    ):
        yield Server(port, token.token)


def test_drift_uploaded_becomes_findings_of_the_app_with_the_diff(
    repo: Path, live: Path, tmp_path: Path, server: Server
) -> None:
    write(live, {"cluster-made.yaml": CLUSTER_MADE})
    token_file = tmp_path / "token"
    token_file.write_text(server.token)
    done = run_drift(
        "--repo", str(repo), "--path", "apps/plain", "--revision", "main", "--live", str(live),
        "--upload", f"http://127.0.0.1:{server.port}", "--app", "checkout", "--env", "prod",
        "--token-file", str(token_file), cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr == "uploaded as scan 1 of checkout in prod: none->new 2\n"
    page = server.get("/api/v1/findings")
    found = sorted(
        (f["policy"], f["rule"], f["resource"]["kind"], f["resource"]["name"], f["status"], f["severity"])
        for f in page["items"]
    )
    assert found == [
        ("drift.configmap", "extra", "ConfigMap", "hotfix", "new", "medium"),
        ("drift.deployment", "drifted", "Deployment", "web", "new", "medium"),
    ]
    (drifted,) = [f for f in page["items"] if f["rule"] == "drifted"]
    assert drifted["message"].splitlines()[:2] == [
        "Deployment/shop/web differs from Git:",
        "--- desired/Deployment/shop/web",
    ]
    assert "-      - image: nginx:1.28" in drifted["message"].splitlines()

    # the change reaches the cluster: the next comparison is in sync but for the hotfix, and the drift is fixed
    write(live, {"shop.yaml": LIVE.replace("nginx:1.27", "nginx:1.28")})
    again = run_drift(
        "--repo", str(repo), "--path", "apps/plain", "--revision", "main", "--live", str(live),
        "--upload", f"http://127.0.0.1:{server.port}", "--app", "checkout", "--env", "prod",
        "--token-file", str(token_file), cwd=tmp_path,
    )  # fmt: skip
    assert again.stderr == "uploaded as scan 2 of checkout in prod: new->fixed 1, new->open 1\n"


def test_a_drift_upload_leaves_the_policy_findings_of_its_scope_open(
    repo: Path, live: Path, tmp_path: Path, server: Server
) -> None:
    manifests = tmp_path / "manifests"
    write(
        manifests,
        {
            "web.yaml": LIVE.replace(
                "image: nginx:1.27", "image: nginx:1.27\n          securityContext: {privileged: true}"
            )
        },
    )
    token_file = tmp_path / "token"
    token_file.write_text(server.token)
    target = ("--upload", f"http://127.0.0.1:{server.port}", "--app", "checkout", "--env", "prod")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SOURCE, os.environ.get("PYTHONPATH", "")])}
    scanned = subprocess.run(
        [sys.executable, "-m", "leitplanke.cli", "scan", str(manifests), "--pack", "pss-baseline", *target,
         "--token-file", str(token_file)],
        capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert "uploaded as scan 1 of checkout in prod: none->new 1" in scanned.stderr
    run_drift(
        "--repo", str(repo), "--path", "apps/plain", "--revision", "v1", "--live", str(live), *target,
        "--token-file", str(token_file), cwd=tmp_path,
    )  # fmt: skip
    statuses = {f["policy"]: f["status"] for f in server.get("/api/v1/findings")["items"]}
    assert statuses == {"disallow-privileged-containers": "new"}


def test_nothing_is_uploaded_when_a_side_could_not_be_read(repo: Path, live: Path, tmp_path: Path) -> None:
    write(live, {"broken.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n"})
    done = run_drift(
        "--repo", str(repo), "--path", "apps/plain", "--revision", "v1", "--live", str(live),
        "--upload", "http://127.0.0.1:9", "--app", "checkout", "--env", "prod", "--token", "lp_x", cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1] == "leitplanke: not uploaded: 1 input(s) could not be read"
