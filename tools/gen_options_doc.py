"""Write docs/options.md from the option rows in aiperf.config.options (a test checks it is up to date)."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "python"))

from aiperf.config import OPTIONS  # noqa: E402


def render() -> str:
    lines = [
        "# `aiperf profile` options",
        "",
        "Generated from `python/aiperf/config/options.py` by `tools/gen_options_doc.py`; do not edit by hand.",
        "Names, aliases and defaults follow NVIDIA AIPerf. In Python, `aiperf.profile()` takes the same options with",
        "underscores: the Python name below, or any flag spelled with underscores (`isl=100`, `num_requests=10`).",
        "",
    ]
    group = None
    for option in OPTIONS:
        if option.group != group:
            group = option.group
            lines += [f"## {group}", "", "| flag | aliases | Python name | default | meaning |",
                      "|---|---|---|---|---|"]
        default = option.default
        default_text = "–" if default in (None, [], False) else f"`{default}`"
        if option.choices:
            default_text += f" (one of {', '.join(option.choices)})"
        aliases = ", ".join(f"`{f}`" for f in option.flags[1:]) or "–"
        lines.append(f"| `{option.flags[0]}` | {aliases} | `{option.dest}` | {default_text} | {option.help} |")
        if option is OPTIONS[-1] or OPTIONS[OPTIONS.index(option) + 1].group != group:
            lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    out = ROOT / "docs" / "options.md"
    out.write_text(render(), encoding="utf-8")
    print(f"wrote {out}")
