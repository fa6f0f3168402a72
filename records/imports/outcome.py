"""What an import did: counts per record type, the refused lines, a batch's outcome."""

from __future__ import annotations

from dataclasses import dataclass, field

from records.imports.lines import RECORD_TYPES, Problem

UNKNOWN = "unknown"  # the summary's row for lines whose type could not be read


@dataclass(slots=True)
class Counts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0

    @property
    def changed(self) -> int:
        return self.inserted + self.updated + self.deleted

    def add(self, other: Counts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.deleted += other.deleted
        self.rejected += other.rejected


@dataclass(frozen=True, slots=True)
class Rejection:
    """A refused line: what the report lists (line numbers count from 1)."""

    line: int
    type: str | None
    field: str
    code: str
    detail: str


def _counts() -> dict[str, Counts]:
    return {name: Counts() for name in (*RECORD_TYPES, UNKNOWN)}


@dataclass(slots=True)
class Summary:
    lines: int = 0  # non-blank lines read
    counts: dict[str, Counts] = field(default_factory=_counts)
    replanned: int = 0  # changed deadlines whose reminders are planned again
    seconds: float = 0.0  # the whole import
    write_seconds: float = 0.0  # of which in the database (the rest: reading and validating)

    @property
    def total(self) -> Counts:
        total = Counts()
        for counts in self.counts.values():
            total.add(counts)
        return total


@dataclass(slots=True)
class BatchOutcome:
    """What one batch did; merged into the summary once its transaction committed."""

    counts: dict[str, Counts] = field(default_factory=_counts)
    rejections: list[Rejection] = field(default_factory=list)
    replanned: int = 0

    def reject(self, line: int, kind: str | None, problem: Problem) -> None:
        self.counts[kind or UNKNOWN].rejected += 1
        self.rejections.append(Rejection(line, kind, problem.field, problem.code, problem.detail))
