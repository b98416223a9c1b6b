"""A lab's spec (``labs/<id>/README.md``) cut into its stages' sections.

A stage's section is the heading whose text starts with the stage's slug in backticks, after an
optional number::

    ### 3. `redirect`: GET /{code} redirects to the exact URL (needs `shorten`)

It runs from that heading to the next heading of the same or a higher level, so its own
sub-headings (``#### Non-ASCII URLs``) belong to it. Headings inside code blocks are not
headings. ``labctl show LAB --stage SLUG`` prints one section; the test suite holds every bundled
lab to exactly one section per stage, in stage order.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from markdown_it import MarkdownIt

from labctl.errors import LabError
from labctl.model.lab import Lab

_STAGE_HEADING = re.compile(r"^(?:\d+\.\s*)?`(?P<slug>[a-z0-9][a-z0-9-]*)`")


@dataclass(frozen=True)
class Section:
    slug: str
    level: int  # 1 for #, 2 for ##, ...
    start: int  # the heading's line, 0-based
    end: int  # the first line after the section


def stage_sections(text: str) -> list[Section]:
    """Every stage section of a spec, in the order they appear."""
    headings = _headings(text)
    total = len(text.splitlines())
    sections = []
    for i, (level, line, title) in enumerate(headings):
        if match := _STAGE_HEADING.match(title):
            end = next((start for lv, start, _ in headings[i + 1 :] if lv <= level), total)
            sections.append(Section(match["slug"], level, line, end))
    return sections


def section_text(lab: Lab, slug: str) -> str:
    """The markdown of stage ``slug``'s section of ``lab``'s spec; LabError when it has none."""
    lab.stage(slug)  # an unknown stage is an error that lists the lab's stages
    text = lab.spec_path.read_text(encoding="utf-8")
    found = [s for s in stage_sections(text) if s.slug == slug]
    if len(found) != 1:
        problem = "no section" if not found else f"{len(found)} sections"
        raise LabError(
            f"{lab.spec_path} has {problem} for stage {slug!r}",
            hint=f"start exactly one heading with the slug in backticks: ### 2. `{slug}`: ...",
        )
    lines = text.splitlines()[found[0].start : found[0].end]
    return "\n".join(lines).strip() + "\n"


def _headings(text: str) -> list[tuple[int, int, str]]:
    """(level, line, inline text) of each heading, code blocks excluded."""
    tokens = MarkdownIt().parse(text)
    found = []
    for opening, inline in itertools.pairwise(tokens):
        if opening.type == "heading_open" and opening.map is not None:
            found.append((int(opening.tag[1:]), opening.map[0], inline.content))
    return found
