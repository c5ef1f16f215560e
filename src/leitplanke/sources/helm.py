"""Rendering a Helm chart offline with helm-python-sdk (an optional extra, imported only here).

``files`` calls ``load_chart`` for each directory that holds a ``Chart.yaml``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from leitplanke.core.problems import Problem
from leitplanke.sources import parsing

CHART_FILE = "Chart.yaml"
RELEASE_NAME = "release"
NAMESPACE = "default"


def is_chart(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, CHART_FILE))


def load_chart(
    directory: str,
    *,
    limits: parsing.Limits = parsing.DEFAULT_LIMITS,
    values_files: Sequence[str] = (),
    set_values: Sequence[str] = (),
) -> Iterator[parsing.Output]:
    """The documents of the chart rendered as ``helm template`` would, with ``--values`` and ``--set``.

    The SDK returns one manifest per template, so a document's origin file is
    ``CHART/templates/<template>``, its index the position in that rendered template and its
    lines those of the rendered template (not of the template source). As with ``helm
    template``: test hooks are included, ``crds/`` is not, ``lookup`` finds nothing.
    """
    chart_file = os.path.join(directory, CHART_FILE)
    try:
        import helm_python
    except (ImportError, OSError) as exc:
        message = f"rendering Helm charts needs the helm extra (pip install 'leitplanke[helm]'): {exc}"
        yield Problem(chart_file, 0, "helm-unavailable", message)
        return
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    for path in values_files:
        values = _merged(values, _values_file(path, limits, problems))
    for expression in set_values:
        try:
            values = _merged(values, helm_python.parse_set_string(expression))
        except helm_python.HelmError as exc:
            problems.append(Problem(chart_file, 0, "helm-values", f"--set {expression}: {exc.detail}"))
    if problems:
        yield from problems
        return
    try:
        with helm_python.Chart.load(directory) as chart:
            rendered = chart.render(values, name=RELEASE_NAME, namespace=NAMESPACE, is_install=True)
    except helm_python.HelmLibraryError as exc:
        yield Problem(
            chart_file, 0, "helm-unavailable", f"the Helm library could not be loaded: {exc.detail}"
        )
        return
    except helm_python.HelmError as exc:
        yield Problem(chart_file, 0, "helm-failed", exc.detail)
        return
    for template in sorted(rendered):
        if _is_manifest(template):
            file = _template_file(directory, template)
            yield from parsing.parse_documents(rendered[template].encode(), file=file, limits=limits)


def _values_file(path: str, limits: parsing.Limits, problems: list[Problem]) -> dict[str, Any]:
    """The values of one ``--values`` file, read as Helm reads them; ``{}`` after a Problem."""
    import helm_python  # already imported by load_chart

    try:
        with open(path, "rb") as stream:
            data = stream.read(limits.max_bytes + 1)
    except OSError as exc:
        problems.append(Problem(path, 0, "unreadable", exc.strerror or str(exc)))
        return {}
    if len(data) > limits.max_bytes:
        problems.append(Problem(path, 0, "too-large", f"more than the limit of {limits.max_bytes} bytes"))
        return {}
    try:
        return helm_python.values_from_yaml(data.decode("utf-8", "replace"))
    except helm_python.HelmError as exc:
        problems.append(Problem(path, 0, "helm-values", exc.detail))
        return {}


def _merged(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Later values win; maps are merged key by key, as Helm coalesces values files and --set."""
    out = dict(base)
    for key, value in override.items():
        current = out.get(key)
        if isinstance(current, Mapping) and isinstance(value, Mapping):
            out[key] = _merged(current, value)
        else:
            out[key] = value
    return out


def _is_manifest(template: str) -> bool:
    name = template.rsplit("/", 1)[-1]
    return name != "NOTES.txt" and not name.startswith("_")


def _template_file(directory: str, template: str) -> str:
    """``mychart/templates/a.yaml`` → ``DIRECTORY/templates/a.yaml`` (subcharts: ``charts/sub/…``)."""
    _chart_name, _, inside = template.partition("/")
    return os.path.join(directory, inside)
