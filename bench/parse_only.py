"""Parse-only times of one corpus with every YAML parser on record: the floor a scan is judged by.

``run_bench`` calls ``print_parsers`` for the 10k corpus; run alone, it measures any corpus
(``python bench/parse_only.py build/bench/gen10000 --candidate-python /tmp/yamlvenv/bin/python``).
Candidates (yaml-rs, rapidyaml) are not project dependencies: they run from ``--candidate-python``,
and a parser that is not installed there is printed as such.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

# Each script reads every *.yaml of argv[1] into memory first and times only the parse; it prints
# "<objects> <seconds>". Objects are non-empty documents (Lists count as one, except in leitplanke).
_READ = """
import sys, glob, time, gc
datas = [(f, open(f, 'rb').read()) for f in sorted(glob.glob(sys.argv[1] + '/*.yaml'))]
n = 0
start = time.perf_counter()
"""
_DONE = "\nprint(n, time.perf_counter() - start)\n"
PARSERS: dict[str, tuple[bool, str]] = {  # name -> (a candidate?, timed body)
    "PyYAML C loader, values (load_all)": (
        False,
        "import yaml\nfor f, d in datas:\n"
        "    n += sum(1 for x in yaml.load_all(d, Loader=yaml.CSafeLoader) if x)",
    ),
    "PyYAML C loader, nodes (compose_all)": (
        False,
        "import yaml\nfor f, d in datas:\n"
        "    n += sum(1 for x in yaml.compose_all(d, Loader=yaml.CSafeLoader) if x)",
    ),
    "leitplanke parse step (nodes + values, lines on demand)": (
        False,
        "from leitplanke.sources import parsing\nfrom leitplanke.core.documents import Document\n"
        "for f, d in datas:\n"
        "    n += sum(1 for x in parsing.parse_documents(d, file=f) if isinstance(x, Document))",
    ),
    "yaml-rs 0.1.6, values only (YAML 1.2, no positions)": (
        True,
        "import yaml_rs\nfor f, d in datas:\n"
        "    r = yaml_rs.loads(d.decode(), parse_datetime=False)\n"
        "    n += sum(1 for x in (r if isinstance(r, list) else [r]) if x)",
    ),
    "rapidyaml 0.15.2, tree only (no Python values)": (
        True,
        "import ryml\nfor f, d in datas:\n"
        "    t = ryml.parse_in_arena(d)\n    n += t.num_children(t.root_id())",
    ),
    "rapidyaml 0.15.2, tree + a Python walk to plain strings": (
        True,
        """import ryml
def value(t, node):
    if t.is_map(node) or t.is_seq(node):
        items, ch = [], t.first_child(node)
        while ch != ryml.NONE:
            items.append((bytes(t.key(ch)).decode() if t.is_map(node) else None, value(t, ch)))
            ch = t.next_sibling(ch)
        return dict(items) if t.is_map(node) else [v for _, v in items]
    return bytes(t.val(node)).decode()
gc.disable()
for f, d in datas:
    t = ryml.parse_in_arena(d)
    ch = t.first_child(t.root_id())
    while ch != ryml.NONE:
        n += bool(value(t, ch))
        ch = t.next_sibling(ch)""",
    ),
}


def measured(python: str, body: str, corpus: Path, repeat: int) -> str:
    """The best of ``repeat`` runs, or why there is none."""
    times = []
    for _ in range(repeat):
        run = subprocess.run(
            [python, "-c", _READ + body + _DONE, str(corpus)], capture_output=True, text=True, check=False
        )
        if run.returncode != 0:
            last = (run.stderr.strip().splitlines() or ["failed"])[-1]
            return "not installed" if "ModuleNotFoundError" in last else last[:80]
        objects, seconds = run.stdout.split()
        times.append(float(seconds))
    return f"{min(times):.2f} s ({objects} objects)"


def print_parsers(corpus: Path, *, candidate_python: str = sys.executable, repeat: int = 3) -> None:
    print(f"parse only, {corpus.name}, best of {repeat} (file reading not timed):", flush=True)
    for name, (candidate, body) in PARSERS.items():
        python = candidate_python if candidate else sys.executable
        print(f"  {name}\t{measured(python, body, corpus, repeat)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", type=Path)
    parser.add_argument("--candidate-python", default=sys.executable)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    started = time.perf_counter()
    print_parsers(args.corpus, candidate_python=args.candidate_python, repeat=args.repeat)
    print(f"({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
