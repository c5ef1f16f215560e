"""Rendering a template's manifest files: the one module that imports Jinja2.

A sandboxed environment with ``StrictUndefined``; every ``{{ … }}`` is written as one complete
YAML flow value (``yaml_value``), so no parameter can add keys, items or documents. Called by
``scaffolding``; parsing the text into Documents is ``sources.parsing``'s job, as for a scan.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import jinja2
from jinja2 import sandbox

# what YAML may hold raw inside a double-quoted scalar: printable characters that are not line
# breaks (YAML 1.1 folds NEL, LS and PS like newlines) nor a byte-order mark; everything else is
# written as an escape
_UNSAFE = re.compile("[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


class RenderError(Exception):
    """A template file that cannot be rendered (a syntax error, an undefined name, a sandbox
    refusal): the template's fault, not the caller's; ``code`` is stable."""

    def __init__(self, message: str, *, code: str, file: str) -> None:
        super().__init__(message)
        self.code = code
        self.file = file


@dataclass(frozen=True, slots=True)
class RenderedFile:
    name: str  # the manifest file's name inside the template, e.g. deployment.yaml
    text: str


def yaml_value(value: Any) -> str:
    """``value`` as one YAML flow value: JSON (a subset of YAML's flow style) with every
    character that YAML would read as a break or refuse escaped, so that it cannot leave its
    quotes. Mappings and sequences come out as flow collections."""
    if isinstance(value, jinja2.Undefined):  # StrictUndefined raises on str(); keep that error
        str(value)
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, sort_keys=False, default=_refuse)
    return _UNSAFE.sub(_escape, text)


def _refuse(value: Any) -> Any:
    raise TypeError(f"a {type(value).__name__} has no YAML form")


def _escape(match: re.Match[str]) -> str:
    point = ord(match.group())
    if 0xD800 <= point <= 0xDFFF:  # a lone surrogate (from JSON input) has no YAML form
        return "\\ufffd"
    return f"\\u{point:04x}" if point <= 0xFFFF else f"\\U{point:08x}"


def build_environment() -> jinja2.Environment:
    """The sandbox templates render in: no access to attributes beyond the safe ones, no
    undefined name passing silently, every expression written by ``yaml_value``."""
    return sandbox.ImmutableSandboxedEnvironment(
        undefined=jinja2.StrictUndefined,
        finalize=yaml_value,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_files(
    environment: jinja2.Environment, files: Mapping[str, str], *, values: Mapping[str, Any]
) -> list[RenderedFile]:
    """Each manifest file (name → Jinja2 source) rendered with ``values``, in name order."""
    rendered = []
    for name in sorted(files):
        try:
            text = environment.from_string(files[name]).render(values)
        except jinja2.TemplateSyntaxError as exc:
            raise RenderError(
                f"{name}:{exc.lineno}: {exc.message}", code="template-syntax", file=name
            ) from exc
        except jinja2.UndefinedError as exc:
            raise RenderError(f"{name}: {exc.message}", code="template-undefined", file=name) from exc
        except jinja2.exceptions.SecurityError as exc:
            raise RenderError(f"{name}: {exc}", code="template-sandbox", file=name) from exc
        except (jinja2.TemplateError, TypeError, ValueError) as exc:
            raise RenderError(f"{name}: {exc}", code="template-render", file=name) from exc
        rendered.append(RenderedFile(name=name, text=text))
    return rendered
