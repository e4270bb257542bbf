"""The seed contracts' paragraph numbers, read from the seed texts themselves.

Each contract catalogue cites one seed (`../shared/seeds/`, README there) and, inside it, one
part: the CPS Security Policy (seed 000, Annex 1), Schedule 2.4's body and its Annex A1 (seed
001), Call Off Schedule 7's short form, long form and Annex 1 (seed 002). `paragraphs` lists
every number a part really has, so a test can check that a catalogue cites only numbers that
exist: `4.6`, its lettered items `4.6(a)`, their roman sub-items `10.1(c)(xiv)`, and headings
that carry text of their own (`1`, Schedule 2.4 Annex A1 para 1).

The seeds are converted from PDF: a wrapped line can begin with a paragraph number quoted in
the sentence before ("3.3 to 3.5 of this Call Off Schedule 7"), and two long-form headings of
Call Off Schedule 7 are numbered "1." where 4 and 8 are meant. A number is therefore taken
only where it can follow the previous one (next sibling, first child, or next at a higher
level), which drops both kinds of noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "seeds"

CPS_SEED = "000_e15c6a3b40bf7abb.txt"
S24_SEED = "001_7d77124de15f7d1c.txt"
CO7_SEED = "002_e7f4c131fc912dac.txt"


@dataclass(frozen=True)
class Part:
    seed: str
    start: str
    end: str | None


PARTS = {
    "cps": Part(CPS_SEED, "CPS SECURITY POLICY", None),
    "s24-body": Part(S24_SEED, "SCHEDULE 2.4", "ANNEX A 1: BASELINE"),
    "s24-annex": Part(S24_SEED, "ANNEX A 1: BASELINE", None),
    "co7-short": Part(CO7_SEED, "[SHORT FORM", "[LONG FORM"),
    "co7-long": Part(CO7_SEED, "[LONG FORM", "ANNEX 1: BASELINE SECURITY REQUIREMENTS"),
    "co7-annex": Part(CO7_SEED, "ANNEX 1: BASELINE SECURITY REQUIREMENTS", "[CALL OFF SCHEDULE 8"),
}

NUMBERED = re.compile(r"^\s*(?:-\s+)?(\d+(?:\.\d+)*)\.?\s+\S")
LETTERED = re.compile(r"^\s*(?:-\s+)?\(([a-z]{1,5})\)\s")
BULLET = re.compile(r"^\s*-\s+\S")
LETTERS = "abcdefghijklmnopqrstuvwxyz"
ROMAN = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x"]
ROMAN += ["x" + r for r in ROMAN] + ["xx"]


@dataclass
class Paragraphs:
    """The numbers of one part, and how many unnumbered bullets each paragraph has."""

    labels: set[str] = field(default_factory=set)
    bullets: dict[str, int] = field(default_factory=dict)


def part_text(part: str) -> str:
    where = PARTS[part]
    text = (SEEDS / where.seed).read_text(encoding="utf-8")
    begin = text.index(where.start)
    finish = text.index(where.end, begin + len(where.start)) if where.end else len(text)
    return text[begin:finish]


def may_follow(previous: tuple[int, ...], number: tuple[int, ...]) -> bool:
    """Can paragraph `number` come straight after `previous` in a numbered document?"""
    if not previous:
        return all(n == 1 for n in number[1:])
    if number[: len(previous)] == previous and len(number) > len(previous):
        return all(n == 1 for n in number[len(previous) :])  # first child
    for level in range(len(previous)):
        bumped = (*previous[:level], previous[level] + 1)
        if number[: level + 1] == bumped and all(n == 1 for n in number[level + 1 :]):
            return True  # next sibling, or the first child of the next one
    return False


@cache
def paragraphs(part: str) -> Paragraphs:
    found = Paragraphs()
    previous: tuple[int, ...] = ()
    para = ""
    letter = ""
    next_letter = next_roman = 0
    for line in part_text(part).splitlines():
        numbered = NUMBERED.match(line)
        if numbered:
            number = tuple(int(n) for n in numbered.group(1).split("."))
            if may_follow(previous, number):
                previous, para = number, numbered.group(1)
                letter, next_letter, next_roman = "", 0, 0
                found.labels.add(para)
            continue
        lettered = LETTERED.match(line)
        if lettered and para:
            token = lettered.group(1)
            if next_letter < len(LETTERS) and token == LETTERS[next_letter]:
                letter, next_letter, next_roman = token, next_letter + 1, 0
                found.labels.add(f"{para}({letter})")
            elif letter and next_roman < len(ROMAN) and token == ROMAN[next_roman]:
                next_roman += 1
                found.labels.add(f"{para}({letter})({token})")
            continue
        if BULLET.match(line) and para:
            found.bullets[para] = found.bullets.get(para, 0) + 1
    return found


# How each contract catalogue's `clauses` entries name a part: (catalogue, prefix) -> part.
CLAUSE_PARTS = {
    "cps-security-policy": [("", "cps")],
    "schedule-2-4": [("A1-", "s24-annex"), ("", "s24-body")],
    "call-off-schedule-7": [("body-", "co7-long"), ("", "co7-annex")],
}
# How a control's `source` text names a part, after the seed file name.
SOURCE_PARTS = [
    ("CPS Security Policy ", "cps"),
    ("Schedule 2.4 Annex A1 ", "s24-annex"),
    ("Schedule 2.4 ", "s24-body"),
    ("Call Off Schedule 7 Annex 1 (Baseline Security Requirements) ", "co7-annex"),
    ("Call Off Schedule 7 long form ", "co7-long"),
]
SEED_OF = {"cps": CPS_SEED, "s24-body": S24_SEED, "s24-annex": S24_SEED}
SEED_OF |= {"co7-short": CO7_SEED, "co7-long": CO7_SEED, "co7-annex": CO7_SEED}


def clause_part(catalogue_id: str, clause: str) -> tuple[str, str]:
    """(part, paragraph label) for one `clauses` entry of a contract catalogue."""
    for prefix, part in CLAUSE_PARTS[catalogue_id]:
        if clause.startswith(prefix):
            return part, clause.removeprefix(prefix)
    raise AssertionError(f"{catalogue_id}: no part for clause {clause!r}")


REF = re.compile(
    r"(?P<base>\d+(?:\.\d+)*)(?P<subs>(?:\([a-z]+\))*)"
    r"(?:-(?:(?P<to_number>\d+(?:\.\d+)*)|\((?P<to_sub>[a-z]+)\)))?"
)
ORDINAL = re.compile(r"\((first|second|third|fourth|fifth|sixth|seventh|eighth|ninth) condition\)")
ORDINALS = ["first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth"]


@dataclass(frozen=True)
class SourceRef:
    seed: str
    part: str
    refs: tuple[str, ...]  # every paragraph the text names, ranges expanded
    ordinals: tuple[tuple[str, int], ...]  # ("5.5", 4) for "5.5 (fourth condition)"


def parse_source(source: str) -> SourceRef:
    """Read "<seed file>, <part> para(s) <numbers>" into the paragraphs it names."""
    seed, _, rest = source.partition(", ")
    part = next((p for prefix, p in SOURCE_PARTS if rest.startswith(prefix)), None)
    if part is None:
        raise AssertionError(f"{source!r}: names no known part of a seed")
    rest = rest.removeprefix(next(prefix for prefix, p in SOURCE_PARTS if p == part))
    rest = re.sub(r"^paras? ", "", rest)
    refs: list[str] = []
    for m in REF.finditer(rest):
        refs.append(m["base"] + m["subs"])
        if m["to_number"]:
            refs.extend(_number_range(m["base"], m["to_number"]))
        if m["to_sub"]:
            refs.extend(_sub_range(m["base"], m["subs"], m["to_sub"]))
    ordinals = []
    for m in ORDINAL.finditer(rest):
        ordinals.append((refs[-1] if refs else "", ORDINALS.index(m[1]) + 1))
    return SourceRef(seed, part, tuple(refs), tuple(ordinals))


def _number_range(start: str, end: str) -> list[str]:
    head, _, first = start.rpartition(".")
    end_head, _, last = end.rpartition(".")
    if head != end_head or int(last) < int(first):
        raise AssertionError(f"range {start}-{end} is not a run of sibling paragraphs")
    return [f"{head}.{n}" if head else str(n) for n in range(int(first), int(last) + 1)]


def _sub_range(base: str, subs: str, end: str) -> list[str]:
    groups = re.findall(r"\(([a-z]+)\)", subs)
    if not groups:
        raise AssertionError(f"range {base}{subs}-({end}) has no starting item")
    scale = ROMAN if groups[-1] in ROMAN and end in ROMAN else list(LETTERS)
    first, last = scale.index(groups[-1]), scale.index(end)
    prefix = base + "".join(f"({g})" for g in groups[:-1])
    return [f"{prefix}({scale[i]})" for i in range(first, last + 1)]
