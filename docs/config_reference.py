"""Print the README's configuration reference from the typed config itself.

    .venv/bin/python docs/config_reference.py > /tmp/config.md

One table per section of ``topictensor.config.PipelineConfig``: field, default, allowed values,
description. ``tests/test_readme.py`` checks that the README's Configuration section holds
exactly this output, so the reference cannot drift from the code.
"""

from __future__ import annotations

import json
import typing

import annotated_types
from pydantic import BaseModel

from topictensor.config import PipelineConfig


def _allowed(field) -> str:
    args = typing.get_args(field.annotation)
    if typing.get_origin(field.annotation) is typing.Literal:
        return " / ".join(f"`{a}`" for a in args)
    bounds = []
    for item in field.metadata:
        for attr, sign in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
            if isinstance(item, getattr(annotated_types, attr.capitalize())):
                bounds.append(f"{sign} {getattr(item, attr)}")
    return ", ".join(bounds)


def _default(field) -> str:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    text = json.dumps(value, ensure_ascii=False, default=str)
    return f"`{text}`" if len(text) <= 40 else f"`{text[:37]}...`"


def reference() -> str:
    out = []
    for section, sfield in PipelineConfig.model_fields.items():
        model = sfield.annotation
        out.append(f"**`{section}`**\n")
        out.append("| field | default | allowed | meaning |")
        out.append("|---|---|---|---|")
        for name, field in model.model_fields.items():
            meaning = " ".join((field.description or "").split()).replace("|", "\\|")
            out.append(f"| `{name}` | {_default(field)} | {_allowed(field)} | {meaning} |")
        out.append("")
    return "\n".join(out).rstrip() + "\n"


if __name__ == "__main__":
    print(reference(), end="")
