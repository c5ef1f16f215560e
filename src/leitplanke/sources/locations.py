"""Lines of field paths in parsed documents, looked up only when a report asks for them.

``parsing`` puts a ``NodeLines`` into every ``Origin``; reports read it through
``Origin.line_of``; ``Origin.frozen`` turns it into a plain dict to send to another process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from leitplanke.core.documents import join_path, parent_path, parse_path
from leitplanke.sources import building, composing

Step = str | int


class NodeLines(Mapping[str, int]):
    """1-based lines of the field paths of one document, found in its YAML nodes on demand.

    Node trees are not kept: with many documents alive, the garbage collector walks them over
    and over (composing slows down sixfold) and they take four times the memory of the values.
    A lookup composes the document's text again (about 0.1 ms for a manifest), walks down to
    the path and remembers the line of every path on the way, so that ``Origin.line_of``'s
    probes of ancestors cost nothing more. A path that names a mapping key has the line of
    the key (``spec.containers[0].image`` → the line of ``image:``). Iterating or counting
    walks the whole tree: fine for tests, not for reports.
    """

    __slots__ = ("_base_line", "_known", "_node", "_node_base", "_nodes", "_prefix", "_span", "_text")

    def __init__(
        self,
        text: composing.SourceText,
        *,
        span: tuple[int, int],
        base_line: int,
        prefix: tuple[Step, ...] = (),
        node: Node | None = None,
        node_base: int = 0,
    ) -> None:
        self._text = text
        self._span = span
        self._base_line = base_line  # 0-based line where the span starts
        self._prefix = prefix  # from the document's root to this object (a List item)
        self._known: dict[str, int] = {}  # path → line, 0 for a path the document lacks
        # the tree composed while parsing, while the document is alive: lookups then cost a walk,
        # not a new compose (the scanner drops each document after evaluating it, and the tree with it)
        self._node = node
        self._node_base = node_base
        # walked path -> its value node, while the tree is kept: a lookup starts from the
        # deepest ancestor an earlier one walked (a container's fields share its walk)
        self._nodes: dict[str, Node] = {}

    def __getitem__(self, path: str) -> int:
        line = self._known.get(path)
        if line is None:
            line = self._look_up(path)
        if not line:
            raise KeyError(path)
        return line

    def get(self, path: str, default: Any = None) -> Any:
        """``Origin.line_of`` probes ancestors with this: without raising KeyError for each miss."""
        line = self._known.get(path)
        if line is None:
            line = self._look_up(path)
        return line or default

    def __iter__(self) -> Iterator[str]:
        node = self._root()
        return iter(()) if node is None else _paths(node, "")

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"NodeLines(span={self._span}, prefix={self._prefix})"

    def _look_up(self, path: str) -> int:
        known = self._known
        known[path] = 0
        nodes = self._nodes
        walked = ""
        node: Node | None
        if self._node is not None:
            walked = path
            while walked and walked not in nodes:
                walked = parent_path(walked)
            node = nodes[walked] if walked else self._walk_prefix(self._node)
            base = self._node_base
        else:
            node, base = self._root(), self._base_line
        try:
            steps = parse_path(path[len(walked) :])
        except (ValueError, IndexError):
            return 0
        for step in steps:
            found = child(node, step) if node is not None else None
            walked = join_path(walked, step)
            if found is None:
                node = None  # and so are the paths below it, which line_of probes next
                known[walked] = 0
                continue
            key_node, node = found
            known[walked] = base + (key_node or node).start_mark.line + 1
            if self._node is not None:
                nodes[walked] = node
        known[path] = known.get(walked, 0)
        return known[path]

    def release(self) -> None:
        """Drop the kept node tree; later lookups compose the document's text again."""
        self._node = None
        self._nodes = {}

    def _root(self) -> Node | None:
        return self._walk_prefix(composing.compose_first(self._text.chars(*self._span)))

    def _walk_prefix(self, node: Node | None) -> Node | None:
        for step in self._prefix:
            found = child(node, step) if node is not None else None
            node = found[1] if found is not None else None
        return node


def child(node: Node, step: Step) -> tuple[Node | None, Node] | None:
    """The key node (for a mapping) and the value node one step below ``node``."""
    if isinstance(step, int):
        if isinstance(node, SequenceNode) and 0 <= step < len(node.value):
            return None, node.value[step]
        return None
    if not isinstance(node, MappingNode):
        return None
    found: tuple[Node | None, Node] | None = None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == step and key_node.tag != building.MERGE_TAG:
            found = key_node, value_node  # the last of duplicate keys wins, as in the body
    if found is None:
        found = _merged_child(node, step)
    return found


def _merged_child(node: MappingNode, step: str) -> tuple[Node | None, Node] | None:
    for key_node, value_node in node.value:
        if key_node.tag == building.MERGE_TAG:
            for source in building.merge_sources(value_node):
                found = child(source, step)
                if found is not None:
                    return found
    return None


def _paths(node: Node, base: str) -> Iterator[str]:
    if isinstance(node, SequenceNode):
        steps: Iterable[tuple[Step, Node]] = enumerate(node.value)
    elif isinstance(node, MappingNode):
        steps = _entries(node).items()
    else:
        return
    for step, value_node in steps:
        path = join_path(base, step)
        yield path
        yield from _paths(value_node, path)


def _entries(node: MappingNode) -> dict[str, Node]:
    """Key → value node as the body has them: the last duplicate wins, merged keys fill in."""
    written: dict[str, Node] = {}
    merged: dict[str, Node] = {}
    for key_node, value_node in node.value:
        if key_node.tag == building.MERGE_TAG:
            for source in building.merge_sources(value_node):
                for key, found in _entries(source).items():
                    merged.setdefault(key, found)
        elif isinstance(key_node, ScalarNode):
            written[key_node.value] = value_node
    return {**merged, **written}
