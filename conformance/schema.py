"""The manifest's JSON Schema (spec/vectors.schema.json) and the problems it finds.

The schema is published beside the spec so that readers in other languages validate a manifest
the same way; the package ships it as ``aha.conformance/vectors.schema.json``. Every problem
names the field by its JSON pointer (RFC 6901), e.g. ``/cases/3/dtypes/0``.
"""

from __future__ import annotations

import functools
import json
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

MAX_PROBLEMS = 20  # a wholly wrong manifest is reported by its first problems, not thousands
MAX_MESSAGE = 240  # jsonschema quotes the instance; a huge one would drown the message


@functools.cache
def validator() -> Draft202012Validator:
    schema = json.loads((files("aha.conformance") / "vectors.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def pointer(path: Any) -> str:
    """The JSON pointer of a path of keys and indices ('' is the whole document); characters
    that are not printable are escaped, so a hostile key cannot break a message's line."""
    return "".join("/" + _printable(str(p).replace("~", "~0").replace("/", "~1")) for p in path)


def _printable(text: str) -> str:
    return text if text.isprintable() else text.encode("unicode_escape").decode("ascii")


def problems(manifest: Any) -> list[tuple[str, str]]:
    """(JSON pointer, message) for each way ``manifest`` breaks the schema, in document order."""
    found = sorted(validator().iter_errors(manifest), key=lambda e: _order(e.absolute_path))
    return [_describe(e) for e in found[:MAX_PROBLEMS]]


def _order(path: Any) -> list[tuple[int, str]]:
    return [(0, f"{p:012d}") if isinstance(p, int) else (1, str(p)) for p in path]


def _describe(error: ValidationError) -> tuple[str, str]:
    path = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, dict):
        # one error per missing name; the message quotes it ("'id' is a required property")
        missing = [n for n in error.validator_value if n not in error.instance]
        named = [n for n in missing if error.message.startswith(repr(n))]
        return pointer([*path, (named or missing)[0]]), "is required but missing"
    if error.validator in ("if", "allOf") and error.context:  # report the innermost reason
        return _describe(min(error.context, key=lambda e: len(list(e.absolute_path))))
    if error.validator == "not" and error.validator_value == {}:
        return pointer(path), "is not allowed here (only an invalid case carries it)"
    if "propertyNames" in error.absolute_schema_path:  # the name itself is at fault
        path.append(error.instance)
    message = error.message
    if len(message) > MAX_MESSAGE:
        message = message[: MAX_MESSAGE - 1] + "…"
    return pointer(path) or "/", message
