"""Regenerate the field tables of specs/01_TYPES_SPEC.md from polyloly/messages.py.

Run: ``.venv/bin/python scripts/gen_types_spec.py``; tests/unit/test_types_spec.py fails when
the spec and the code disagree.
"""

from __future__ import annotations

import enum
import re
import typing
from pathlib import Path

import msgspec

from polyloly import domain, messages

SPEC = Path(__file__).resolve().parent.parent / "specs" / "01_TYPES_SPEC.md"
BEGIN, END = "<!-- generated:begin -->", "<!-- generated:end -->"


def _type_name(annotation: object) -> str:
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
    for cls in (*messages.MESSAGE_TYPES, *extra):
        tag = cls.__struct_config__.tag
        hints = typing.get_type_hints(cls)
        lines.append(f"### `{cls.__name__}`" + (f" — kind `{tag}`" if tag else " — embedded"))
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
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
