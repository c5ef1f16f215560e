"""Kubernetes' CEL format library: `format.dns1123Label().validate(name)` and `format.named('uuid')`.

Pure Python, no CEL import: `engine.cel` registers `declarations()`. The rules and messages are
those of Kubernetes' apimachinery validation and kube-openapi's string formats. The runtime
cannot hand an optional back from Python, so `validate` and `format.named` return a map
(`{"errors": [...]}` or `{}`) that `cel.rewriting` turns into the optional Kubernetes returns.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

from leitplanke.engine.cel import functions, urls

MARKER = "__format__"
ERRORS_KEY = "errors"  # the key `validate`'s map holds its errors under
FORMAT_KEY = "format"  # the key `format.named`'s map holds its format under

_LABEL_FORMAT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FORMAT = _LABEL_FORMAT + "(\\." + _LABEL_FORMAT + ")*"
_DNS1035_FORMAT = "[a-z]([-a-z0-9]*[a-z0-9])?"
_QUALIFIED_NAME_FORMAT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FORMAT = "(" + _QUALIFIED_NAME_FORMAT + ")?"

_LABEL_MESSAGE = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character"
)
_SUBDOMAIN_MESSAGE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character"
)
_DNS1035_MESSAGE = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', "
    "start with an alphabetic character, and end with an alphanumeric character"
)
_QUALIFIED_NAME_MESSAGE = (
    "must consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_LABEL_VALUE_MESSAGE = (
    "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', "
    "and must start and end with an alphanumeric character"
)
_UUID = re.compile(r"[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}", re.IGNORECASE)
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
# kube-openapi's time pattern, '.' unescaped as there; the text is lower-cased first
_TIME = re.compile(r"([0-9]{2}):([0-9]{2}):([0-9]{2})(.[0-9]+)?(z|([+-][0-9]{2}:[0-9]{2}))")
_QUOTED = re.compile(r"'((?:[^'\\]|\\.)*)'")


def _max_length_error(length: int) -> str:
    return f"must be no more than {length} characters"


def _regex_error(message: str, pattern: str, *examples: str) -> str:
    """apimachinery's wording, with its doubled space before 'or'."""
    if not examples:
        return f"{message} (regex used for validation is '{pattern}')"
    shown = " or ".join(f"'{example}', " for example in examples)
    return f"{message} (e.g. {shown}regex used for validation is '{pattern}')"


def _matches(pattern: str, text: str) -> bool:
    # Go's `^…$` without flags: the whole text, no newline before the end
    return re.fullmatch(pattern, text) is not None


def dns1123_label_errors(text: str) -> list[str]:
    errors = [_max_length_error(63)] if len(text) > 63 else []
    if not _matches(_LABEL_FORMAT, text):
        if _matches(_SUBDOMAIN_FORMAT, text):
            errors.append("must not contain dots")
        else:
            errors.append(_regex_error(_LABEL_MESSAGE, _LABEL_FORMAT, "my-name", "123-abc"))
    return errors


def dns1123_subdomain_errors(text: str) -> list[str]:
    errors = [_max_length_error(253)] if len(text) > 253 else []
    if not _matches(_SUBDOMAIN_FORMAT, text):
        errors.append(_regex_error(_SUBDOMAIN_MESSAGE, _SUBDOMAIN_FORMAT, "example.com"))
    return errors


def dns1035_label_errors(text: str) -> list[str]:
    errors = [_max_length_error(63)] if len(text) > 63 else []
    if not _matches(_DNS1035_FORMAT, text):
        errors.append(_regex_error(_DNS1035_MESSAGE, _DNS1035_FORMAT, "my-name", "abc-123"))
    return errors


def qualified_name_errors(text: str) -> list[str]:
    parts = text.split("/")
    errors: list[str] = []
    if len(parts) > 2:
        return [
            "a qualified name "
            + _regex_error(_QUALIFIED_NAME_MESSAGE, _QUALIFIED_NAME_FORMAT, "MyName", "my.name", "123-abc")
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            errors.append("prefix part must be non-empty")
        else:
            errors.extend("prefix part " + error for error in dns1123_subdomain_errors(prefix))
    if not name:
        errors.append("name part must be non-empty")
    elif len(name) > 63:
        errors.append("name part " + _max_length_error(63))
    if not _matches(_QUALIFIED_NAME_FORMAT, name):
        errors.append(
            "name part "
            + _regex_error(_QUALIFIED_NAME_MESSAGE, _QUALIFIED_NAME_FORMAT, "MyName", "my.name", "123-abc")
        )
    return errors


def label_value_errors(text: str) -> list[str]:
    errors = [_max_length_error(63)] if len(text) > 63 else []
    if not _matches(_LABEL_VALUE_FORMAT, text):
        errors.append(_regex_error(_LABEL_VALUE_MESSAGE, _LABEL_VALUE_FORMAT, "MyValue", "my_value", "12345"))
    return errors


def _prefix(check: Callable[[str], list[str]]) -> Callable[[str], list[str]]:
    """apimachinery's name-prefix variant: a trailing dash is masked, together with the
    character before it (its `maskTrailingDash` replaces the last two characters by 'a')."""

    def checks(text: str) -> list[str]:
        if len(text) > 1 and text.endswith("-"):
            text = text[:-2] + "a"
        return check(text)

    return checks


def uri_errors(text: str) -> list[str]:
    """Go's url.ParseRequestURI, with Go's error text."""
    try:
        urls.parse_request_uri(text)
    except TypeError as exc:
        reason = str(exc).removeprefix(f"invalid URL {text!r}: ")
        return [f"parse {json.dumps(text, ensure_ascii=False)}: {_go_reason(reason)}"]
    return []


def _go_reason(reason: str) -> str:
    if reason == "neither an absolute URI nor an absolute path":
        return "invalid URI for request"
    if reason in ("invalid control character", "invalid userinfo"):
        return f"net/url: {reason}" + (" in URL" if reason == "invalid control character" else "")
    # Go quotes with %q: double quotes
    return _QUOTED.sub(lambda found: json.dumps(found[1], ensure_ascii=False), reason)


def uuid_errors(text: str) -> list[str]:
    return [] if _UUID.fullmatch(text) else ["does not match the UUID format"]


def byte_errors(text: str) -> list[str]:
    # Go's base64.StdEncoding: padding required, line breaks skipped
    try:
        base64.b64decode(text.replace("\r", "").replace("\n", ""), validate=True)
    except (binascii.Error, ValueError):
        return ["invalid base64"]
    return []


def _is_date(text: str) -> bool:
    """Go's time.Parse with layout 2006-01-02: the day must exist in its month."""
    found = _DATE.fullmatch(text)
    if found is None:
        return False
    try:
        # Go accepts year 0000, a leap year; Python has no year 0: 2000 stands in for it
        date(int(found[1]) or 2000, int(found[2]), int(found[3]))
    except ValueError:
        return False
    return True


def date_errors(text: str) -> list[str]:
    return [] if _is_date(text) else ["invalid date"]


def datetime_errors(text: str) -> list[str]:
    """kube-openapi's IsDateTime: a date, a 't' and a time, compared as text."""
    if len(text) < 4:
        return ["invalid datetime"]
    parts = text.lower().split("t")
    if len(parts) < 2 or not _is_date(parts[0]):
        return ["invalid datetime"]
    found = _TIME.match(parts[1])
    # Go's FindAllStringSubmatch with `^…$`: the whole second part
    if found is None or found.end() != len(parts[1]):
        return ["invalid datetime"]
    if not (found[1] <= "23" and found[2] <= "59" and found[3] <= "59"):
        return ["invalid datetime"]
    return []


def named_formats() -> dict[str, Callable[[str], list[str]]]:
    """Every format Kubernetes names, by the name `format.named` takes."""
    return {
        "dns1123Label": dns1123_label_errors,
        "dns1123Subdomain": dns1123_subdomain_errors,
        "dns1035Label": dns1035_label_errors,
        "qualifiedName": qualified_name_errors,
        "dns1123LabelPrefix": _prefix(dns1123_label_errors),
        "dns1123SubdomainPrefix": _prefix(dns1123_subdomain_errors),
        "dns1035LabelPrefix": _prefix(dns1035_label_errors),
        "labelValue": label_value_errors,
        "uri": uri_errors,
        "uuid": uuid_errors,
        "byte": byte_errors,
        "date": date_errors,
        "datetime": datetime_errors,
    }


def _validate(value: Any, text: str) -> dict[str, list[str]]:
    name = functions.unwrap(value, MARKER, "a format, as made by format.dns1123Label()")
    check = named_formats().get(name)
    if check is None:
        raise TypeError(f"unknown format {name!r}")
    errors = check(text)
    return {ERRORS_KEY: errors} if errors else {}


def _named(name: str) -> dict[str, dict[str, str]]:
    return {FORMAT_KEY: {MARKER: name}} if name in named_formats() else {}


def _constant(name: str) -> Callable[[], dict[str, str]]:
    def format_value() -> dict[str, str]:
        return {MARKER: name}

    return format_value


def declarations() -> list[functions.Declaration]:
    return [
        *(
            functions.function(f"format.{name}", f"format_{name}", "map", (), _constant(name))
            for name in named_formats()
        ),
        functions.function("format.named", "format_named", "map", ("string",), _named),
        functions.member("validate", "format_validate", "map", ("map", "string"), _validate),
    ]
