"""Pydantic models as OpenAPI 3.0 components.

Pydantic writes JSON Schema 2020-12; ``/openapi.json`` is OpenAPI 3.0.3, whose
schema dialect predates ``type: "null"`` and ``const``. So each model's schema
is rewritten: a union with null becomes ``nullable`` (in a form it is dropped:
a form field is absent or text, never null), ``const`` becomes a one-value
``enum``, titles (the class and field names again) go. The components are named
by each model's ``schema_name``, the names the hand-written schemas had.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal, get_args

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

Json = dict[str, Any]
PREFIX = "#/components/schemas/"
Mode = Literal["validation", "serialization"]


def ref(model: type[BaseModel]) -> Json:
    return {"$ref": PREFIX + name_of(model)}


def name_of(model: type[BaseModel]) -> str:
    name = getattr(model, "schema_name", None)
    if not isinstance(name, str):
        raise TypeError(f"{model.__name__} has no schema_name: every model in the document needs one")
    return name


def nested(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """The model and every model its fields hold, depth first."""
    yield model

    def walk(annotation: Any) -> Iterator[type[BaseModel]]:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            yield from nested(annotation)
        for arg in get_args(annotation):
            yield from walk(arg)

    for field in model.model_fields.values():
        yield from walk(field.annotation)


def components(models: Iterable[tuple[type[BaseModel], Mode]]) -> Json:
    """``{schema_name: schema}`` for the models and the models they hold;
    references between them point at ``#/components/schemas/``."""
    wanted: dict[tuple[type[BaseModel], Mode], None] = {}  # ordered, without repeats
    for model, mode in models:
        for found in nested(model):
            wanted[(found, mode)] = None
    refs, top = models_json_schema(list(wanted), ref_template=PREFIX + "{model}")
    # pydantic's own names (class names, -Input/-Output when a model has both modes) -> ours
    renamed = {
        str(r["$ref"]).removeprefix(PREFIX): name_of(wanted_model)
        for (wanted_model, _), r in refs.items()
        if isinstance(wanted_model, type) and issubclass(wanted_model, BaseModel)
    }
    forms = {name_of(model) for model, mode in wanted if mode == "validation"}
    schemas: Json = {}
    for key, schema in top.get("$defs", {}).items():
        if key not in renamed:
            raise TypeError(f"{key}: a model in the document that is not declared for it")
        name = renamed[key]
        schemas[name] = _openapi30(_renamed_refs(schema, renamed), form=name in forms)
    return dict(sorted(schemas.items()))


def query_parameters(model: type[BaseModel]) -> list[Json]:
    """A query-string model (``api/forms.py``) as OpenAPI query parameters, one per field."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    if "$defs" in schema:
        raise TypeError(f"{model.__name__}: a query string holds no nested models")
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": _openapi30(prop, form=True)}
        for name, prop in schema.get("properties", {}).items()
    ]


def _renamed_refs(node: Any, renamed: dict[str, str]) -> Any:
    if isinstance(node, dict):
        return {
            k: PREFIX + renamed[v.removeprefix(PREFIX)]
            if k == "$ref" and isinstance(v, str)
            else _renamed_refs(v, renamed)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_renamed_refs(v, renamed) for v in node]
    return node


_SCHEMA_MAPS = ("properties", "patternProperties")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_VALUES = ("items", "additionalProperties", "not")


def _openapi30(schema: Json, *, form: bool) -> Json:
    """One JSON Schema 2020-12 object as an OpenAPI 3.0 schema object. Walks the
    schema's structure (not every dict), so a property named ``title`` stays."""
    out: Json = {}
    for key, value in schema.items():
        if key == "title" or (key == "default" and value is None):
            continue
        if key == "const":
            out["enum"] = [value]
        elif key in _SCHEMA_MAPS:
            out[key] = {k: _openapi30(v, form=form) for k, v in value.items()}
        elif key in _SCHEMA_LISTS:
            out[key] = [_openapi30(v, form=form) for v in value]
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            out[key] = _openapi30(value, form=form)
        else:
            out[key] = value
    union = out.get("anyOf")
    if union is not None and {"type": "null"} in union:
        rest = [s for s in union if s != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **out}
        else:
            # A $ref takes no siblings in OpenAPI 3.0: the nullable reference is wrapped.
            out["allOf" if len(rest) == 1 else "anyOf"] = rest
        if not form:
            out["nullable"] = True
    return out
