"""One adapter runs ``git``: ``delivery.gitrepos``. Every other module reaches git through it."""

from __future__ import annotations

import ast
from pathlib import Path

import leitplanke

PACKAGE = Path(leitplanke.__file__).parent
ADAPTER = "delivery/gitrepos.py"
# modules that start programs at all, and the program each one starts
RUNS_PROGRAMS = {ADAPTER: "git", "sources/kustomize.py": "kustomize"}


def _modules() -> dict[str, ast.Module]:
    return {
        path.relative_to(PACKAGE).as_posix(): ast.parse(path.read_text(encoding="utf-8"))
        for path in sorted(PACKAGE.rglob("*.py"))
    }


def _imports_subprocess(tree: ast.Module) -> bool:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import) and any(alias.name == "subprocess" for alias in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "subprocess":
            return True
    return False


def _runs_git(tree: ast.Module) -> bool:
    """A string literal ``git`` (the program's name in an argument list), or ``os.system``/``exec*``."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and node.value == "git":
            return True
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id == "os"
            and node.attr in {"system", "popen", "execv", "execvp", "execvpe", "spawnv", "posix_spawn"}
        ):
            return True
    return False


def test_only_the_git_adapter_and_the_kustomize_source_start_programs() -> None:
    starting = sorted(name for name, tree in _modules().items() if _imports_subprocess(tree))
    assert starting == sorted(RUNS_PROGRAMS)


def test_no_module_but_the_git_adapter_names_the_git_program() -> None:
    naming = sorted(name for name, tree in _modules().items() if _runs_git(tree))
    assert naming == [ADAPTER]


def test_the_adapter_has_one_error_type_and_its_push_rejection_is_one_of_it() -> None:
    from leitplanke.core.problems import SourceError
    from leitplanke.delivery import gitrepos

    errors = sorted(
        name
        for name, value in vars(gitrepos).items()
        if isinstance(value, type) and issubclass(value, Exception) and value.__module__ == gitrepos.__name__
    )
    assert errors == ["GitError", "PushRejected"]
    assert issubclass(gitrepos.PushRejected, gitrepos.GitError)
    assert issubclass(gitrepos.GitError, SourceError)
    assert (gitrepos.GitError.code, gitrepos.PushRejected.code) == ("git", "git-push-rejected")
