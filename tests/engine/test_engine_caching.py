"""What the engine keeps between runs: sealed, never code, and the folder chosen by the caller."""

from __future__ import annotations

import os
import pickle
import re
from datetime import UTC, datetime
from pathlib import Path

from leitplanke import settings
from leitplanke.core.documents import Document, Origin
from leitplanke.engine import caching, compiling, evaluating, loading

ENGINE = Path(__file__).parents[2] / "src" / "leitplanke" / "engine"
NOW = datetime(2026, 1, 1, tzinfo=UTC)
PRIVILEGED_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "web", "namespace": "shop"},
    "spec": {"containers": [{"name": "web", "image": "nginx:1.27", "securityContext": {"privileged": True}}]},
}


class _Planted:
    """Unpickling this creates ``path``: proof that a planted file was loaded as a pickle."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (open, (str(self.path), "w"))


def _failing_policies(cache: Path) -> list[str]:
    loaded = loading.load_packs(["pss-baseline"], now=NOW)
    environment = compiling.build_environment(cache=cache)
    compiled, problems = compiling.compile_policies(loaded.policies, environment=environment)
    assert problems == []
    outcome = evaluating.evaluate_document(
        compiled, Document(body=PRIVILEGED_POD, origin=Origin(file="p.yaml"))
    )
    return sorted({r.policy for r in outcome.results if r.verdict.value == "fail"})


def test_a_pickle_planted_where_the_caches_live_is_never_run(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    expected = _failing_policies(cache)  # fills the cache
    assert expected == ["disallow-privileged-containers"]
    marker = tmp_path / "ran"
    planted = pickle.dumps(_Planted(marker))
    (store,) = cache.glob("cel-*")
    store.write_bytes(planted)
    for name in ("pack-pss-baseline-0.pickle", "cel-0.marshal"):
        (cache / name).write_bytes(planted)
    assert _failing_policies(cache) == expected
    assert not marker.exists()
    # the planted store was not trusted: the programs were compiled and kept afresh
    assert store.read_bytes() != planted
    assert len(caching.read_entries(store)) > 10


def test_entries_come_back_as_they_were_kept(tmp_path: Path) -> None:
    store = tmp_path / "c" / "cel-x.programs"
    entries = {"object.kind == 'Pod'": b"\x00\x01program", "": b"", "é\ud800": b"x" * 70_000}
    assert caching.keep_entries(store, entries)
    assert caching.read_entries(store) == entries
    assert oct((tmp_path / "c" / "key").stat().st_mode & 0o777) == "0o600"


def test_entries_sealed_under_another_key_or_changed_are_not_read(tmp_path: Path) -> None:
    store = tmp_path / "cel-x.programs"
    assert caching.keep_entries(store, {"true": b"kept"})
    data = store.read_bytes()
    store.write_bytes(data.replace(b"kept", b"evil"))
    assert caching.read_entries(store) == {}
    store.write_bytes(data)
    (tmp_path / "key").write_bytes(os.urandom(32))
    assert caching.read_entries(store) == {}


def test_a_key_others_may_read_is_not_trusted(tmp_path: Path) -> None:
    store = tmp_path / "cel-x.programs"
    assert caching.keep_entries(store, {"true": b"kept"})
    (tmp_path / "key").chmod(0o644)
    assert caching.read_entries(store) == {}
    assert caching.keep_entries(store, {"true": b"kept"}) is False


def test_the_cache_folder_is_read_from_the_environment_by_settings(tmp_path: Path) -> None:
    home = os.path.expanduser("~")
    assert [
        settings.cache_directory({"LEITPLANKE_CACHE_DIR": "off"}),
        settings.cache_directory({"LEITPLANKE_CACHE_DIR": ""}),
        settings.cache_directory({"LEITPLANKE_CACHE_DIR": str(tmp_path)}),
        settings.cache_directory({"XDG_CACHE_HOME": str(tmp_path / "xdg")}),
        settings.cache_directory({}),
    ] == [None, None, tmp_path, tmp_path / "xdg" / "leitplanke", Path(home) / ".cache" / "leitplanke"]


def test_the_engine_reads_no_environment_variables() -> None:
    readers = re.compile(r"\bos\.environ\b|\bgetenv\b|\benviron\[")
    found = [
        f"{path.relative_to(ENGINE)}:{number}"
        for path in sorted(ENGINE.rglob("*.py"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if readers.search(line)
    ]
    assert found == []
