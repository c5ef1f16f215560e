"""The GitOps writer against a real bare repository: concurrent applies never interleave, a crash
between the push and the database is reconciled by the change ID, and the sync windows hold an
approved change back unless a platform-admin overrides them (audited)."""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import re
import threading
from datetime import timedelta
from typing import Any

import pytest
from changeflows import BOB, T0, apply, apply_in_process, approve, git, manifests, propose, put_env

from leitplanke import catalog
from leitplanke.delivery import changes, gitops
from leitplanke.governance import errors
from leitplanke.store import auditrecords

APPS = ("checkout", "basket", "search", "payments")


def _apps(setup: Any) -> None:
    for app in APPS[1:]:
        catalog.put_app(setup.database, catalog.AppSpec(name=app, owner="team-shop"), actor="test", now=T0)


def _run_together(calls: list[Any]) -> list[Any]:
    outcomes: list[Any] = [None] * len(calls)
    start = threading.Barrier(len(calls))

    def run(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = calls[index]()
        except Exception as exc:
            outcomes[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return outcomes


def test_concurrent_applies_of_four_apps_make_four_commits_in_one_line(setup: Any) -> None:
    _apps(setup)
    views = [propose(setup, manifests("1.0"), app=app, now=T0) for app in APPS]
    for view in views:
        approve(setup, view, BOB, now=T0)
    # each thread with a writer of its own over the same folder: the file lock is what they share
    writers = [gitops.Writer(setup.root / "work") for _ in views]
    outcomes = _run_together(
        [
            (lambda v=v, w=w: gitops.apply_change(setup.database, w, v.id, applier=_applier(), now=T0))
            for v, w in zip(views, writers, strict=True)
        ]
    )
    assert [o.status for o in outcomes] == ["applied"] * 4
    log = git("log", "--format=%H %P", "main", cwd=setup.remote).splitlines()
    assert len(log) == 4
    # one line: every commit's parent is the next older one
    assert [line.split()[1:] for line in log] == [[older.split()[0]] for older in log[1:]] + [[]]
    assert sorted(git("ls-tree", "--name-only", "main", "envs/prod/", cwd=setup.remote).split()) == sorted(
        f"envs/prod/{app}.yaml" for app in APPS
    )


def test_one_change_applied_by_two_threads_at_once_is_committed_once(setup: Any) -> None:
    view = propose(setup, manifests("1.0"), now=T0)
    approve(setup, view, BOB, now=T0)
    outcomes = _run_together([lambda: apply(setup, view, now=T0), lambda: apply(setup, view, now=T0)])
    shas = {o.commit_sha for o in outcomes if isinstance(o, changes.ChangeView)}
    refused = [str(o) for o in outcomes if isinstance(o, Exception)]
    assert len(shas) == 1 and refused in ([], ["a change that is applied cannot apply"])
    assert git("rev-list", "--count", "main", cwd=setup.remote).strip() == "1"


def test_applies_from_four_processes_make_four_commits_in_one_line(setup: Any) -> None:
    _apps(setup)
    views = [propose(setup, manifests("2.0"), app=app, now=T0) for app in APPS]
    for view in views:
        approve(setup, view, BOB, now=T0)
    spawn = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(len(views), mp_context=spawn) as pool:
        futures = [
            pool.submit(apply_in_process, setup.database.url, str(setup.root / "work"), v.id, T0)
            for v in views
        ]
        shas = [f.result(timeout=180) for f in futures]
    log = git("log", "--format=%H %P", "main", cwd=setup.remote).splitlines()
    assert sorted(line.split()[0] for line in log) == sorted(shas)
    assert [line.split()[1:] for line in log] == [[older.split()[0]] for older in log[1:]] + [[]]
    assert [changes.get_change(setup.database, v.id, now=T0).commit_sha for v in views] == shas


def _applier() -> gitops.Applier:
    return gitops.Applier(
        actor="user:alice via token:a", subject="user:alice@example.com", may_override=False
    )


def test_a_crash_between_the_push_and_the_database_is_reconciled_by_the_change_id(
    setup: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    view = propose(setup, manifests("1.0"), now=T0)
    approve(setup, view, BOB, now=T0)

    def crash(*args: Any, **kwargs: Any) -> None:
        raise SystemExit("killed after the push")

    with monkeypatch.context() as patched:
        patched.setattr(gitops, "_record", crash)
        with pytest.raises(SystemExit):
            apply(setup, view, now=T0)
    assert changes.get_change(setup.database, view.id, now=T0).status == "approved"
    pushed = git("rev-parse", "main", cwd=setup.remote).strip()
    # the next start, with a fresh working copy
    assert gitops.reconcile(
        setup.database, gitops.Writer(setup.root / "fresh"), now=T0 + timedelta(minutes=1)
    ) == [view.id]
    after = changes.get_change(setup.database, view.id, now=T0)
    assert (after.status, after.commit_sha, after.applied_by) == ("applied", pushed, "system")
    # applying again commits nothing more
    with pytest.raises(errors.Conflict, match="a change that is applied cannot apply"):
        apply(setup, view, now=T0)
    assert git("rev-list", "--count", "main", cwd=setup.remote).strip() == "1"


def test_an_approved_change_waits_for_the_allow_window_unless_a_platform_admin_overrides(setup: Any) -> None:
    put_env(
        setup.database,
        "prod",
        "enforce",
        {
            "syncWindows": [
                {"kind": "allow", "schedule": "0 8 * * 1-5", "duration": "2h", "timeZone": "Europe/Berlin"}
            ],
            "gitops": {"repository": str(setup.remote), "branch": "main", "path": "envs/prod"},
        },
    )
    view = propose(setup, manifests("1.0"), now=T0)
    approve(setup, view, BOB, now=T0)
    late = T0 + timedelta(hours=2)  # 12:00 in Berlin
    with pytest.raises(
        errors.Conflict,
        match=re.escape(
            "waits for the sync window: no allow window is open; it opens at 2026-01-06T07:00:00.000000Z"
        ),
    ):
        apply(setup, view, now=late)
    with pytest.raises(errors.Forbidden, match="only a platform-admin overrides a sync window"):
        apply(setup, view, now=late, override=True)
    admin = gitops.Applier(actor="user:root via token:r", subject="user:root", may_override=True)
    applied = apply(setup, view, now=late, applier=admin, override=True)
    assert (applied.status, applied.window_override) == ("applied", "user:root via token:r")
    with setup.database.reading() as session:
        records = [
            (r.action, r.actor)
            for r in auditrecords.iter_audit_records(session)
            if r.target == f"change:{view.id}"
        ]
    assert records[-2:] == [
        ("change.window-overridden", "user:root via token:r"),
        ("change.apply", "user:root via token:r"),
    ]


def test_inside_the_window_the_change_goes_without_override(setup: Any) -> None:
    put_env(
        setup.database,
        "prod",
        "enforce",
        {
            "syncWindows": [
                {"kind": "allow", "schedule": "0 8 * * 1-5", "duration": "3h", "timeZone": "Europe/Berlin"}
            ],
            "gitops": {"repository": str(setup.remote), "branch": "main", "path": "envs/prod"},
        },
    )
    view = propose(setup, manifests("1.0"), now=T0)
    approve(setup, view, BOB, now=T0)
    assert apply(setup, view, now=T0 + timedelta(minutes=30)).window_override == ""


def test_an_app_whose_name_would_leave_the_environments_folder_is_refused(setup: Any) -> None:
    with pytest.raises(errors.Invalid, match="its name cannot name a file in the repository"):
        gitops.file_of(None, "../../outside")
    copy = gitops.gitrepos.WorkingCopy(setup.root / "copy", remote=str(setup.remote), branch="main")
    with pytest.raises(gitops.gitrepos.GitError, match="is not a file of the working copy"):
        copy.read("envs/../../escape.yaml")
    with pytest.raises(gitops.gitrepos.GitError, match="is not a file of the working copy"):
        copy.commit_file(
            ".git/hooks/post-commit", "#!/bin/sh\n", author=gitops.gitrepos.person_of("user:x"), message="x"
        )
