"""Forms made from a JSON-Schema and read back: each kind of field, what does not parse passed on as text
for the validator to name, and an error's path mapped to its form field."""

from __future__ import annotations

from leitplanke.catalog.parametervalidating import ParameterError
from leitplanke.service.portal import schemaforms

SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "required": ["image"],
    "properties": {
        "image": {"type": "string", "title": "Image"},
        "port": {"type": "integer", "minimum": 1024, "maximum": 65535, "default": 8080},
        "ratio": {"type": "number", "default": 0.05},
        "debug": {"type": "boolean", "default": False},
        "exposure": {"type": "string", "enum": ["ingress", "none"], "default": "ingress"},
        "ports": {"type": "array", "items": {"type": "integer"}, "default": [5432, 6379]},
        "args": {"type": "array", "items": {"type": "string"}},
        "env": {"type": "object", "additionalProperties": {"type": "string"}, "default": {"A": "1"}},
    },
}


def test_each_parameter_becomes_a_field_of_its_kind_showing_its_default() -> None:
    fields = schemaforms.fields_of(
        SCHEMA, values={"port": 8080, "debug": True, "ports": [5432, 6379], "env": {"A": "1"}}, texts={}
    )
    assert [(f.name, f.kind, f.text, f.required) for f in fields] == [
        ("image", "text", "", True),
        ("port", "number", "8080", False),
        ("ratio", "number", "", False),
        ("debug", "checkbox", "on", False),
        ("exposure", "select", "", False),
        ("ports", "lines", "5432\n6379", False),
        ("args", "lines", "", False),
        ("env", "pairs", "A=1", False),
    ]
    assert fields[1].hint == "At least 1024. At most 65535."
    assert fields[4].options == ("ingress", "none")


def test_posted_texts_are_read_into_values_and_what_does_not_parse_stays_text() -> None:
    texts = {
        "image": " app:1 ",
        "port": "eighty",
        "ratio": "0.5",
        "debug": "",
        "exposure": "none",
        "ports": "5432\n\n 6379 \nx",
        "args": "--verbose\n--once",
        "env": "A=1\nB==2\nbroken",
    }
    values, problems = schemaforms.values_of(SCHEMA, texts)
    assert values == {
        "image": "app:1",
        "port": "eighty",
        "ratio": 0.5,
        "debug": False,
        "exposure": "none",
        "ports": [5432, 6379, "x"],
        "args": ["--verbose", "--once"],
        "env": {"A": "1", "B": "=2"},
    }
    assert problems == [ParameterError("$.env", "parameter-form", "line 3 is not KEY=value")]


def test_an_empty_optional_field_is_left_out_so_its_default_holds_and_a_required_one_is_kept() -> None:
    values, problems = schemaforms.values_of(SCHEMA, {"image": "", "port": " ", "debug": "on"})
    assert (values, problems) == ({"image": "", "debug": True, "ports": [], "args": [], "env": {}}, [])


def test_an_errors_path_is_shown_at_its_top_level_field() -> None:
    paths = ["$.port", "$.ports[2]", "$.env['a b']", "$.env.A", "app", "$"]
    assert [schemaforms.field_of(p) for p in paths] == ["port", "ports", "env", "env", "app", "$"]
