"""The application services library: golden-path templates declared as data, one folder each.

A folder under ``catalog/templates`` holds ``template.yaml`` (name, title, description, owner,
docs, the parameters' JSON-Schema) and ``manifests/*.yaml`` (Jinja2, see ``templating``).
``load_library`` reads them all, with every authoring problem; ``scaffolding`` renders them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from leitplanke.catalog import parametervalidating
from leitplanke.core.problems import Problem

API_VERSION = "leitplanke.dev/v1"
KIND = "Template"
DEFINITION = "template.yaml"
MANIFESTS = "manifests"
MANIFEST_SUFFIXES = (".yaml", ".yml")
_TEXT_FIELDS = ("title", "description", "owner", "docs")


@dataclass(frozen=True, slots=True)
class Template:
    name: str
    title: str
    description: str
    owner: str  # the team that maintains the template
    docs: str  # Markdown
    parameters: Mapping[str, Any]  # a JSON-Schema (draft 2020-12) of an object
    manifests: Mapping[str, str]  # file name -> Jinja2 source
    kinds: tuple[str, ...] = ()  # what the manifests create, for listings (spec.kinds)
    tags: tuple[str, ...] = ()

    def summary(self) -> dict[str, Any]:
        """The template as a listing shows it (API, CLI)."""
        return {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "owner": self.owner,
            "kinds": list(self.kinds),
            "tags": list(self.tags),
        }

    def details(self) -> dict[str, Any]:
        """Everything but the manifest sources: what a form is generated from."""
        return {**self.summary(), "docs": self.docs, "parameters": self.parameters}


@dataclass(slots=True)
class Library:
    templates: dict[str, Template] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)

    def named(self, name: str) -> Template | None:
        return self.templates.get(name)

    def listing(self) -> list[Template]:
        return [self.templates[name] for name in sorted(self.templates)]


def built_in_root() -> Path:
    return Path(str(resources.files("leitplanke") / "catalog" / "templates"))


def load_library(root: Path | None = None) -> Library:
    """Every template folder under ``root`` (default: the built-in library); a folder with
    problems is left out and its problems are reported."""
    library = Library()
    base = root if root is not None else built_in_root()
    if not base.is_dir():
        library.problems.append(Problem(str(base), 0, "template-library", "no such directory"))
        return library
    for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))):
        template = load_template(folder, problems=library.problems)
        if template is not None:
            library.templates[template.name] = template
    return library


def load_template(folder: Path, *, problems: list[Problem]) -> Template | None:
    """One folder's template, or None with what is wrong added to ``problems``."""
    file = str(folder / DEFINITION)
    try:
        data = yaml.safe_load((folder / DEFINITION).read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(Problem(file, 0, "template-unreadable", exc.strerror or str(exc)))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problems.append(Problem(file, mark.line + 1 if mark else 0, "template-yaml", str(exc)))
        return None
    mark = len(problems)
    template = _parse(data, folder=folder, file=file, problems=problems)
    return template if len(problems) == mark else None


def _parse(data: Any, *, folder: Path, file: str, problems: list[Problem]) -> Template | None:
    if not isinstance(data, Mapping) or data.get("apiVersion") != API_VERSION or data.get("kind") != KIND:
        problems.append(Problem(file, 0, "template-kind", f"expected apiVersion {API_VERSION}, kind {KIND}"))
        return None
    meta = _mapping(data.get("metadata"))
    spec = _mapping(data.get("spec"))
    name = meta.get("name")
    if not isinstance(name, str) or name != folder.name:
        problems.append(Problem(file, 0, "template-name", "must equal the folder's name", "metadata.name"))
        return None
    texts = {}
    for key in _TEXT_FIELDS:
        value = spec.get(key)
        if not isinstance(value, str) or not value.strip():
            problems.append(
                Problem(file, 0, "template-field", "a non-empty string is required", f"spec.{key}")
            )
        texts[key] = str(value or "")
    schema = spec.get("parameters")
    for problem in parametervalidating.check_schema(schema):
        problems.append(Problem(file, 0, problem.code, problem.message, f"spec.parameters{problem.path}"))
    manifests = _manifests(folder, problems=problems)
    return Template(
        name=name,
        parameters=schema if isinstance(schema, Mapping) else {},
        manifests=manifests,
        kinds=tuple(str(k) for k in spec.get("kinds") or ()),
        tags=tuple(str(t) for t in spec.get("tags") or ()),
        **texts,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _manifests(folder: Path, *, problems: list[Problem]) -> dict[str, str]:
    directory = folder / MANIFESTS
    files = sorted(p for p in directory.glob("*") if p.is_file() and p.suffix in MANIFEST_SUFFIXES)
    if not files:
        problems.append(Problem(str(directory), 0, "template-manifests", "no manifest files"))
    return {file.name: file.read_text(encoding="utf-8") for file in files}
