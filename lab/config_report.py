"""Turn a pydantic ``ValidationError`` into lines ``FILE: dotted.path[i]: message``.

Unknown keys name the keys that are allowed there; union members (``quorum = 2`` or
``"majority"``) are folded into one line per field.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, ValidationError


def dotted(loc: tuple[int | str, ...]) -> str:
    """``("services", "www", "order", "eu", 1)`` → ``services.www.order.eu[1]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _walk(model: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[int, Any]:
    """Follow ``loc`` through the model's annotations.

    Returns (how many loc parts are real config path, the annotation reached).
    """
    ann: Any = model
    used = 0
    for part in loc:
        while typing.get_origin(ann) in (typing.Union, types.UnionType):  # narrow, same part
            args = [a for a in typing.get_args(ann) if a is not type(None)]
            models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
            if len(args) == 1:
                ann = args[0]
            elif models and isinstance(part, str) and part in models[0].model_fields:
                ann = models[0]
            else:
                return used, ann  # a union tag such as 'int' or "literal['majority', ...]"
        origin = typing.get_origin(ann)
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            field = ann.model_fields.get(str(part)) or next(
                (f for f in ann.model_fields.values() if f.alias == part), None
            )  # errors name a field by its alias ([resolver] cache-max-ttl)
            if field is None:
                return used, ann
            ann = field.annotation
        elif origin is dict:
            ann = typing.get_args(ann)[1]
        elif origin in (tuple, list):
            if not isinstance(part, int):
                return used, ann
            ann = typing.get_args(ann)[0]
        else:
            return used, ann
        used += 1
    return used, ann


def _message(err: Any, model: type[BaseModel]) -> tuple[str, str]:
    loc: tuple[int | str, ...] = tuple(err["loc"])
    kind = err["type"]
    used, _ = _walk(model, loc)
    if kind == "extra_forbidden":
        _, parent = _walk(model, loc[:-1])
        allowed = ""
        if isinstance(parent, type) and issubclass(parent, BaseModel):
            names = [f.alias or n for n, f in parent.model_fields.items() if not f.exclude]
            allowed = f" (allowed: {', '.join(names)})"
        return dotted(loc), f"unknown key {loc[-1]!r}{allowed}"
    path = dotted(loc[:used])
    if kind == "missing":
        return path, "required key is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    for python, toml in (
        ("a valid tuple", "a list [...]"),
        ("a valid array", "a list [...]"),  # strict JSON-mode validation (lab.config)
        ("a valid dictionary", "a table"),
        ("should be an object", "should be a table"),
    ):
        msg = msg.replace(python, toml)  # say it in TOML's words
    value = err.get("input")
    if not isinstance(value, dict | list) and kind not in ("value_error", "assertion_error"):
        msg += f" (got {value!r})"
    return path, msg


def format_validation_error(exc: ValidationError, source: str, model: type[BaseModel]) -> str:
    merged: dict[str, list[str]] = {}
    for err in exc.errors():
        path, msg = _message(err, model)
        if msg not in merged.setdefault(path, []):
            merged[path].append(msg)
    return "\n".join(f"{source}: {path}: {' or '.join(msgs)}" for path, msgs in merged.items())
