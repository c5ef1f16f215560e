"""Walking directories, reading files and standard input, and refusing what should not be read."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from leitplanke.core.documents import Document
from leitplanke.core.problems import Problem
from leitplanke.sources import files, parsing

NAMESPACE = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n"


def write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, str):
        path.write_text(text, encoding="utf-8")
    else:
        path.write_bytes(text)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    write(tmp_path / "b.yaml", NAMESPACE.format(name="b"))
    write(tmp_path / "a" / "z.yml", NAMESPACE.format(name="z"))
    write(tmp_path / "a" / "pod.json", '{"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}}')
    write(tmp_path / "a" / "manifest.txt", "# rendered by hand\nkind: Secret\napiVersion: v1\n")
    write(tmp_path / "a" / "plain.txt", "kind words, but no Kubernetes object\n")
    write(tmp_path / "README.md", "# Deploying\n\n```yaml\napiVersion: v1\n```\n")
    write(tmp_path / "LICENSE", "Apache License\nVersion 2.0\n")
    write(tmp_path / ".git" / "config.yaml", NAMESPACE.format(name="git"))
    write(tmp_path / ".hidden.yaml", NAMESPACE.format(name="hidden"))
    return tmp_path


def test_a_directory_walk_reads_manifests_in_sorted_order_and_ignores_the_rest(tree: Path) -> None:
    assert list(files.iter_sources([str(tree)])) == [
        files.Source("file", str(tree / "a" / "manifest.txt")),
        files.Source("file", str(tree / "a" / "pod.json")),
        files.Source("file", str(tree / "a" / "z.yml")),
        files.Source("file", str(tree / "b.yaml")),
    ]


def test_files_named_explicitly_are_always_read_and_missing_ones_reported(tree: Path) -> None:
    readme, missing = str(tree / "README.md"), str(tree / "nope.yaml")
    assert list(files.iter_files([readme, missing, "-"])) == [
        readme,
        Problem(missing, 0, "not-found", "no such file or directory"),
    ]
    assert list(files.iter_sources(["-", missing])) == [
        files.Source("stdin", "-"),
        files.Source("file", missing),
    ]
    assert list(files.load_source(files.Source("file", missing))) == [
        Problem(missing, 0, "unreadable", "No such file or directory")
    ]


def test_loading_a_walk_gives_every_document(tree: Path) -> None:
    found = [item for source in files.iter_sources([str(tree)]) for item in files.load_source(source)]
    assert list(files.load_path(str(tree))) == found
    assert [(type(item).__name__, item.display) for item in found if isinstance(item, Document)] == [
        ("Document", "Secret/"),
        ("Document", "Pod/p"),
        ("Document", "Namespace/z"),
        ("Document", "Namespace/b"),
    ]
    assert len(found) == 4


def test_load_documents_reads_one_file_with_its_origin(tmp_path: Path) -> None:
    path = write(tmp_path / "two.yaml", NAMESPACE.format(name="x") + "---\n" + NAMESPACE.format(name="z"))
    found = list(files.load_documents(str(path)))
    assert [(doc.name, doc.origin.file, doc.origin.index, doc.origin.line) for doc in found] == [
        ("x", str(path), 0, 1),
        ("z", str(path), 1, 6),
    ]


def test_a_file_over_the_limit_is_refused_without_being_read(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as stream:
        stream.truncate(100 * 1024 * 1024)  # sparse: no 100 MB are written or read
    assert list(files.load_documents(str(path))) == [
        Problem(str(path), 0, "too-large", "104857600 bytes is more than the limit of 67108864")
    ]


def test_an_unreadable_path_is_a_problem(tmp_path: Path) -> None:
    dangling = tmp_path / "dangling.yaml"
    dangling.symlink_to(tmp_path / "gone.yaml")
    assert list(files.iter_sources([str(dangling)])) == [files.Source("file", str(dangling))]
    assert list(files.load_documents(str(dangling))) == [
        Problem(str(dangling), 0, "unreadable", "No such file or directory")
    ]
    assert list(files.load_documents(str(tmp_path))) == [
        Problem(str(tmp_path), 0, "unreadable", "Is a directory")
    ]


def test_bad_files_in_a_walk_are_problems_next_to_the_good_ones(tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", NAMESPACE.format(name="good"))
    binary = write(tmp_path / "image.yaml", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    latin1 = write(
        tmp_path / "latin1.yaml", "apiVersion: v1\nkind: ConfigMap\ndata: {k: café}\n".encode("latin-1")
    )
    envoy = write(tmp_path / "envoy.yaml", "static_resources:\n  listeners: []\n")
    found = [item for source in files.iter_sources([str(tmp_path)]) for item in files.load_source(source)]
    assert isinstance(found[0], Document) and (found[0].kind, found[0].origin.file) == (
        "EnvoyConfig",
        str(envoy),
    )
    assert isinstance(found[1], Document) and found[1].origin.file == str(good)
    assert found[2:] == [
        Problem(str(binary), 0, "binary-file", "NUL bytes in the first 8 KB: not a text file"),
        Problem(str(latin1), 3, "not-utf8", "invalid UTF-8 (byte 0xe9 at offset 44)", column=14),
    ]


def test_standard_input_is_read_as_stdin() -> None:
    stream = io.BytesIO(NAMESPACE.format(name="piped").encode())
    (doc,) = files.load_source(files.Source("stdin", "-"), stdin=stream)
    assert isinstance(doc, Document)
    assert (doc.name, doc.origin.file, doc.origin.line, doc.origin.lines["metadata.name"]) == (
        "piped",
        "<stdin>",
        1,
        4,
    )


def test_standard_input_over_the_limit_is_refused() -> None:
    stream = io.BytesIO(b"#" * 100)
    assert list(files.load_stdin(stream, limits=parsing.Limits(max_bytes=10))) == [
        Problem("<stdin>", 0, "too-large", "more than the limit of 10 bytes")
    ]


def test_symbolic_links_to_directories_are_not_followed(tmp_path: Path) -> None:
    write(tmp_path / "real" / "a.yaml", NAMESPACE.format(name="a"))
    os.symlink(tmp_path / "real", tmp_path / "loop")
    assert list(files.iter_files([str(tmp_path)])) == [str(tmp_path / "real" / "a.yaml")]
