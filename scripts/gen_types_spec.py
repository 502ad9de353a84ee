"""Regenerate the field tables of specs/01_TYPES_SPEC.md from polyloly/messages.py.

Run: ``.venv/bin/python scripts/gen_types_spec.py``; tests/unit/test_types_spec.py fails when
the spec and the code disagree.
"""

from __future__ import annotations

import enum
import re
import types
import typing
from pathlib import Path

import msgspec

from polyloly import domain, messages

SPEC = Path(__file__).resolve().parent.parent / "specs" / "01_TYPES_SPEC.md"
BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"


def _type_name(annotation: object) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is type(None):
        return "None"
    if origin is typing.Annotated:  # a msgspec.Meta bound: "int >= 0"
        bounds = [f">= {m.ge}" for m in args[1:]
                  if isinstance(m, msgspec.Meta) and m.ge is not None]
        return " ".join([_type_name(args[0]), *bounds])
    if origin is typing.Union or isinstance(annotation, types.UnionType):
        return " | ".join(_type_name(a) for a in args)
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in args)
    text = str(annotation)
    text = re.sub(r"<enum '(\w+)'>", r"\1", text)
    text = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", text)
    return text.replace("typing.", "").replace("polyloly.domain.", "").replace(
        "polyloly.messages.", ""
    )


def render() -> str:
    lines: list[str] = ["## Enums (polyloly/domain.py)", ""]
    for name, obj in vars(domain).items():
        is_enum = isinstance(obj, type) and issubclass(obj, enum.Enum)
        if is_enum and obj.__module__ == domain.__name__:
            values = ", ".join(f"`{m.value}`" for m in obj)
            lines.append(f"- **{name}**: {values}")
    lines += ["", "## Wire messages (polyloly/messages.py)", ""]
    extra = (messages.PositionView, messages.OrderView, messages.ResolvedMarketView,
             messages.MakerFill)
    payloads = tuple(messages.PAYLOAD_TYPES.values())
    for cls in (*messages.MESSAGE_TYPES, *extra, *payloads):
        if cls is payloads[0]:
            lines += ["## MatchEvent payloads (polyloly/messages.py)", "",
                      "`MatchEvent.payload` is one of these frozen structs, tagged by `type` (the "
                      "event type, which must equal the event's `event_type`), built and "
                      "validated once in the gateway adapters; unknown fields are refused, and "
                      "fields at their default are left off the wire. An older dict payload "
                      "(no `type`) is decoded into its struct by the codec.", ""]
        tag = cls.__struct_config__.tag
        hints = typing.get_type_hints(cls, include_extras=True)
        label = "type" if cls in payloads else "kind"
        lines.append(f"### `{cls.__name__}`" + (f" — {label} `{tag}`" if tag else " — embedded"))
        doc = " ".join((cls.__doc__ or "").strip().split("\n\n")[0].split())
        if doc:
            lines += ["", doc]
        lines += ["", "| field | type | default |", "|---|---|---|"]
        for field in msgspec.structs.fields(cls):
            default = "" if field.default is msgspec.NODEFAULT else f"`{field.default!r}`"
            lines.append(f"| `{field.name}` | `{_type_name(hints[field.name])}` | {default} |")
        lines.append("")
    return "\n".join(lines)


def updated_spec(text: str) -> str:
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    return f"{head}{BEGIN}\n{render()}\n{END}{tail}"


if __name__ == "__main__":
    SPEC.write_text(updated_spec(SPEC.read_text()))
    print(f"wrote {SPEC}")
