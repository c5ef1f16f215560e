"""The CEL adapter: the only module that imports the CEL runtime (`cel_expr_python`).

The compiler builds one `Environment` per scan and compiles every expression of every policy
through it; the evaluator makes one activation per document and evaluates `Program`s against
it. Compile problems come back as `celmessages.CelIssue`, runtime errors as
`celmessages.CelFailure`: values, never exceptions.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import Any

from cel_expr_python import cel as runtime
from cel_expr_python.ext import ext_bindings, ext_encoders, ext_math, ext_optional, ext_strings

from leitplanke.core import problems
from leitplanke.engine import caching, regexes
from leitplanke.engine.cel import (
    celmessages,
    formats,
    functions,
    jsonpatches,
    networks,
    quantities,
    regexfunctions,
    rewriting,
    semvers,
    serviceaccounts,
    urls,
)

_OPTIONAL_RESULT = "the result is an optional value; end the expression with .orValue(default) or .value()"


SUBJECT_FUNCTION = "leitplanke.subject"
_ERROR = runtime.Type.ERROR


class Program:
    """One compiled expression, reusable across activations and forked processes; one kept
    from an earlier run is read back on first use, which changes nothing it evaluates to."""

    __slots__ = ("_env", "_expression", "_serialized", "source")

    def __init__(self, source: str, expression: Any, *, env: Any = None, serialized: bytes = b"") -> None:
        self.source = source
        self._expression = expression
        # a program kept from an earlier run is read back on its first use: most are never
        # used in a scan whose document program succeeds (``joining.document_programs``)
        self._env = env
        self._serialized = serialized

    def __repr__(self) -> str:
        return f"Program({self.source!r})"

    def evaluate(self, activation: Any) -> Any | celmessages.CelFailure:
        """The result as a plain Python value, or a celmessages.CelFailure; never raises.

        Plain values: bool, int (also for uint), float, str, bytes, None, list, dict,
        datetime (timestamp), timedelta (duration).
        """
        try:
            value = (self._expression or self._read_back()).eval(activation)
        except (RuntimeError, TypeError) as exc:
            # the runtime raises, rather than returning an error value, when a value it was
            # handed cannot be represented in CEL
            return celmessages.CelFailure(celmessages.clean(str(exc)))
        try:
            result = value.value()
        except TypeError:
            return celmessages.CelFailure(_OPTIONAL_RESULT)
        kind = result.__class__
        if kind is bool or kind is int or kind is float:  # the hot path: most results are bools
            return result
        if kind is str and value.type() != _ERROR:  # an error's value is its message, a string too
            return result
        try:
            return _plain(value, result)
        except _Unconvertible as exc:
            return celmessages.CelFailure(str(exc))

    def evaluate_whole(self, activation: Any) -> Any | celmessages.CelFailure:
        """``evaluate`` for the engine's own programs, whose values hold only null, bools, ints,
        strings and lists of them: the runtime hands such a value over whole, where
        ``evaluate`` converts it part by part (handing over an optional would crash it)."""
        try:
            value = (self._expression or self._read_back()).eval(activation)
        except (RuntimeError, TypeError) as exc:
            return celmessages.CelFailure(celmessages.clean(str(exc)))
        if value.type() == _ERROR:
            return celmessages.CelFailure(celmessages.clean(value.value()))
        return value.plain_value()

    def _read_back(self) -> Any:
        try:
            self._expression = self._env.deserialize(self._serialized)
        except Exception:  # a damaged entry: the source compiled before, it compiles again
            self._expression = self._env.compile(self.source)
        self._env, self._serialized = None, b""
        return self._expression

    def evaluate_bool(self, activation: Any) -> bool | celmessages.CelFailure:
        result = self.evaluate(activation)
        if result.__class__ is bool or result.__class__ is celmessages.CelFailure:
            return result
        return celmessages.CelFailure(f"expected bool, got {functions.type_name(result)}")


class EagerProgram(Program):
    """A program whose binds are eager (``cel.sourcetext.eager_binds``), with the program as written
    to evaluate instead when the eager one fails: an eager bind evaluates a value the written
    one may never have needed, and only the written program says what that error means."""

    __slots__ = ("_written",)

    def __init__(self, eager: Program, written: Program) -> None:
        super().__init__(written.source, None, env=eager._env, serialized=eager._serialized)
        self._expression = eager._expression
        self._written = written

    def evaluate(self, activation: Any) -> Any | celmessages.CelFailure:
        result = super().evaluate(activation)
        if result.__class__ is celmessages.CelFailure:
            return self._written.evaluate(activation)
        return result

    def evaluate_whole(self, activation: Any) -> Any | celmessages.CelFailure:
        result = super().evaluate_whole(activation)
        if result.__class__ is celmessages.CelFailure:
            return self._written.evaluate_whole(activation)
        return result


class Environment:
    """Declared variables plus the Kubernetes libraries; build once per scan with `build_environment`."""

    __slots__ = ("_compiled", "_env", "_fresh", "_store", "_stored", "_subject")

    def __init__(self, env: Any, subject: threading.local, store: Path | None = None) -> None:
        self._env = env
        self._subject = subject
        self._compiled: dict[str, Program | celmessages.CelIssue] = {}
        # compiled programs kept between runs (see ``build_environment``): source -> serialized
        self._store = store
        self._stored: dict[str, bytes] = caching.read_entries(store) if store is not None else {}
        self._fresh: dict[str, bytes] = {}

    def set_subject(self, value: Any) -> None:
        """What ``leitplanke.subject()`` returns from now on, in this thread.

        Set-level rules share one activation (holding a namespace's collected documents,
        converted once) across all their subjects and read each subject through this
        function: a new activation per subject would convert those documents again. The
        value is the calling thread's own: threads evaluating one compiled set never mix.
        """
        self._subject.value = value

    def compile(self, source: str) -> Program | celmessages.CelIssue:
        """The program of ``source``; the same source gives the same (immutable) program."""
        found = self._compiled.get(source)
        if found is None:
            found = self._compiled[source] = self._restore(source) or self._compile(source)
        return found

    def save(self) -> None:
        """Keep the programs compiled since the environment was built for the next run.

        Best effort: a cache that cannot be written is skipped, never an error.
        """
        if self._store is None or not self._fresh:
            return
        kept = {**self._stored, **self._fresh} if len(self._stored) < _STORE_LIMIT else dict(self._fresh)
        if caching.keep_entries(self._store, kept):
            self._stored, self._fresh = kept, {}

    def _restore(self, source: str) -> Program | None:
        """A program compiled in an earlier run, read back when first used: only programs
        that compiled are kept, so the source is known to be fine."""
        data = self._stored.get(source)
        if data is None:
            return None
        return Program(source, None, env=self._env, serialized=data)

    def _compile(self, source: str) -> Program | celmessages.CelIssue:
        rewritten = rewriting.rewrite(source)
        try:
            expression = self._env.compile(source if rewritten is None else rewritten.source)
        except RuntimeError as exc:
            found = celmessages.parse_issue(str(exc))
            if rewritten is None:
                return found
            # the problem's place in the source as written
            return celmessages.CelIssue(found.message, *rewritten.place(source, found.line, found.column))
        except TypeError:  # the binding rejects text it cannot encode as UTF-8
            return celmessages.CelIssue("the expression is not valid Unicode text", 1, 1)
        issue = self._pattern_issue(source)
        if issue is not None:
            return issue
        if self._store is not None:
            self._fresh[source] = expression.serialize()
        return Program(source, expression)

    def _pattern_issue(self, source: str) -> celmessages.CelIssue | None:
        """A constant `find`/`findAll` pattern that RE2 rejects, reported at compile time in
        Kubernetes' words (it compiles such a pattern with the program)."""
        for constant in regexfunctions.constant_patterns(source):
            try:
                pattern = self._env.compile(constant.literal).eval(self._env.Activation({})).value()
            except (RuntimeError, TypeError):
                continue
            error = regexes.check(pattern) if isinstance(pattern, str) else None
            if error is not None:
                return celmessages.CelIssue(
                    f"program instantiation failed: {error}", constant.line, constant.column
                )
        return None

    def activation(self, data: Mapping[str, Any]) -> Any:
        """Bind the variables once per document; every program of the document shares it."""
        return self._env.Activation(data)


def build_environment(*, variables: Sequence[str], cache: Path | None = None) -> Environment:
    """An environment with `variables` declared as dyn and every supported library.

    With ``cache`` (a folder), programs compiled in earlier runs are read back from a file
    named after everything their meaning depends on (the runtime's version, the variables,
    every function's signature): deserialising is about four times faster than compiling.
    The file is sealed with this user's key (``caching``): a program is the runtime's own
    serialized form, and one written by someone else could mean anything, so it is not read.
    Raises LeitplankeError if the runtime rejects the declarations: a bug, not bad input.
    """
    subject = threading.local()
    current = runtime.FunctionDecl(
        SUBJECT_FUNCTION,
        [
            runtime.Overload(
                "leitplanke_subject", runtime.Type.DYN, [], impl=lambda: getattr(subject, "value", None)
            )
        ],
    )
    library = runtime.CelExtension("kubernetes", [*_function_decls(), current])
    env = runtime.NewEnv(
        # libraries the binding has no class for, enabled by name
        config=runtime.NewEnvConfigFromYaml(_CONFIG),
        variables={name: runtime.Type.DYN for name in variables},
        # the Kubernetes library goes last: only then may it add overloads to a function an
        # extension already declares (indexOf on lists next to indexOf on strings)
        extensions=[
            ext_strings.ExtStrings(_STRINGS_VERSION),
            ext_optional.ExtOptional(),
            ext_math.ExtMath(),
            ext_encoders.ExtEncoders(),
            ext_bindings.ExtBindings(),
            library,
        ],
    )
    try:
        # the runtime checks declarations lazily: fail here, not at the first policy
        env.compile("true")
    except RuntimeError as exc:
        raise problems.LeitplankeError(f"the CEL environment cannot be built: {exc}") from exc
    store = cache / f"cel-{_signature(variables)}.programs" if cache is not None else None
    return Environment(env, subject, store)


_LIBRARIES = (
    functions,
    quantities,
    networks,
    urls,
    regexfunctions,
    formats,
    semvers,
    jsonpatches,
    serviceaccounts,
)
# the versions Kubernetes 1.37 has: strings 2 (since 1.30), lists 3 (since 1.35; the runtime's newest,
# which has no numbered 3), two-variable comprehensions (since 1.33)
_STRINGS_VERSION = 2
_CONFIG = """
extensions:
  - name: "lists"
  - name: "two-var-comprehensions"
"""
_REWRITES = "rewriting/1"  # what ``cel.rewriting`` does is part of what a program means
_STORE_LIMIT = 20_000  # beyond this many programs the cache starts again from this run's


def _signature(variables: Sequence[str]) -> str:
    """A digest of what a compiled program's meaning depends on."""
    parts = [metadata.version("cel-expr-python"), SUBJECT_FUNCTION, _REWRITES, _CONFIG, str(_STRINGS_VERSION)]
    parts += sorted(variables)
    for module in _LIBRARIES:
        for d in module.declarations():
            parts.append(f"{d.function}/{d.overload}/{d.result}/{','.join(d.parameters)}/{d.is_member}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:20]


def _function_decls() -> list[Any]:
    kinds = {
        "bool": runtime.Type.BOOL,
        "int": runtime.Type.INT,
        "uint": runtime.Type.UINT,
        "double": runtime.Type.DOUBLE,
        "string": runtime.Type.STRING,
        "bytes": runtime.Type.BYTES,
        "list": runtime.Type.LIST,
        "map": runtime.Type.MAP,
        "duration": runtime.Type.DURATION,
        "timestamp": runtime.Type.TIMESTAMP,
        "dyn": runtime.Type.DYN,
    }
    overloads: dict[str, list[Any]] = {}
    for module in _LIBRARIES:
        for declaration in module.declarations():
            overloads.setdefault(declaration.function, []).append(
                runtime.Overload(
                    declaration.overload,
                    kinds[declaration.result],
                    [kinds[kind] for kind in declaration.parameters],
                    is_member=declaration.is_member,
                    impl=declaration.impl,
                )
            )
    return [runtime.FunctionDecl(name, group) for name, group in overloads.items()]


class _Unconvertible(Exception):
    """A result, or a part of it, that has no plain Python value."""


def _plain(value: Any, result: Any) -> Any:
    """Convert `result`, the `.value()` of runtime value `value`, to a plain Python value."""
    kind = result.__class__
    if kind is bool or kind is int or kind is float or result is None:
        return result
    if kind is str:
        if value.type() == runtime.Type.ERROR:
            raise _Unconvertible(celmessages.clean(result))
        return result
    if kind is list:
        return [_plain_value(item) for item in result]
    if kind is dict:
        return {key: _plain_value(item) for key, item in result.items()}
    if kind is bytearray or kind is bytes:
        return bytes(result)
    if isinstance(result, datetime | timedelta):
        return result
    raise _Unconvertible(f"the result has no plain value: {value.type().name().lower()}")


def _plain_value(value: Any) -> Any:
    # Value.plain_value() crashes the interpreter on a map holding an optional: walk instead
    try:
        result = value.value()
    except TypeError:
        raise _Unconvertible(_OPTIONAL_RESULT) from None
    return _plain(value, result)
