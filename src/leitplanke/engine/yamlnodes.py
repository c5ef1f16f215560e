"""Small YAML reading for policy-side files (policies, waivers, tests, config).

Policy files are small, so plain PyYAML is enough; what matters is that every
authoring error can name the line of the field at fault. Called by ``loading``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

from leitplanke.core import documents
from leitplanke.core.policies import ScalarText

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True, slots=True)
class YamlDocument:
    """One parsed document with its node tree for line lookups."""

    data: Any
    node: yaml.Node
    index: int
    text: str = ""  # the file's text, for ``scalar_text``

    def line_of(self, path: str) -> int:
        """1-based line of ``path`` (dotted, with ``[i]``), or of its nearest ancestor."""
        node = self.node
        line = node.start_mark.line + 1
        for part in documents.parse_path(path):
            child = _child(node, part)
            if child is None:
                break
            node, line = child
        return line

    def content_line(self, path: str) -> int:
        """1-based line where the scalar at ``path`` begins (block scalars start below their key)."""
        node: yaml.Node | None = self.node
        for part in documents.parse_path(path):
            found = _child(node, part) if node is not None else None
            node = found[0] if found else None
        if node is None:
            return self.line_of(path)
        line = int(node.start_mark.line) + 1
        return line + 1 if isinstance(node, yaml.ScalarNode) and node.style in ("|", ">") else line

    def scalar_text(self, path: str) -> ScalarText | None:
        """The scalar at ``path`` as written, or None if ``path`` is not a scalar of the text."""
        node: yaml.Node | None = self.node
        for part in documents.parse_path(path):
            found = _child(node, part) if node is not None else None
            node = found[0] if found else None
        if not isinstance(node, yaml.ScalarNode) or not self.text:
            return None
        start, end = node.start_mark, node.end_mark
        text = self.text[start.index : end.index]
        return ScalarText(text, start.line, start.column, node.style or "")


def _child(node: yaml.Node, part: str | int) -> tuple[yaml.Node, int] | None:
    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                return value, key.start_mark.line + 1
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        item = node.value[part]
        return item, item.start_mark.line + 1
    return None


def read_documents(text: str) -> Iterator[YamlDocument]:
    """Yield every non-empty document; raises ``yaml.YAMLError`` on bad syntax."""
    loader = _Loader(text)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            data = loader.construct_document(node)
            if data is not None:
                yield YamlDocument(data=data, node=node, index=index, text=text)
            index += 1
    finally:
        loader.dispose()


def error_position(exc: yaml.YAMLError) -> tuple[int, int]:
    """(line, column), 1-based, of a YAML error where PyYAML knows it."""
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    if mark is None:
        return 0, 0
    return mark.line + 1, mark.column + 1
