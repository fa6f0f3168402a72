"""`duo-abroad import FILE.jsonl`: records from DUO's registers (README: "Importing records").

Exit codes: 0 every line imported (or already up to date); 1 some lines rejected, the others
imported; 2 the file could not be read or the command was misused; 3 the database failed: the
batches before the reported line are committed, running the same file again finishes the job.
Heavy imports happen inside the handler, so `duo-abroad --help` stays quick.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TextIO

from api.settings import Settings

if TYPE_CHECKING:
    from records.imports.outcome import Rejection, Summary

EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_UNUSABLE = 2
EXIT_INTERRUPTED = 3
SHOWN_REJECTIONS = 20  # on the terminal when a --report file gets them all


def add_record_commands(sub: Any) -> None:
    """Register `import` on the top-level subparsers of api.cli."""
    command = sub.add_parser(
        "import",
        help="import persons and their records from a JSON Lines file (idempotent)",
        description=(
            "Import records from DUO's registers: one JSON object per line (README: "
            "'Importing records'). Importing the same file again changes nothing. Exit codes: "
            "0 all imported, 1 some lines rejected (the rest imported), 2 unreadable file, "
            "3 database failure (run the same file again to finish)."
        ),
    )
    command.add_argument("file", metavar="FILE", help="a .jsonl file, or - for standard input")
    command.add_argument(
        "--report",
        metavar="CSV",
        help="write every rejected line to this CSV file (line, type, field, code, detail)",
    )
    command.set_defaults(handler=_import)


def _import(args: argparse.Namespace, settings: Settings) -> int:
    with ExitStack() as stack:
        try:
            if args.file == "-":
                source: BinaryIO = sys.stdin.buffer
                size = None
            else:
                path = Path(args.file)
                source = stack.enter_context(path.open("rb"))
                size = path.stat().st_size if path.is_file() else None
            report = (
                stack.enter_context(Path(args.report).open("w", encoding="utf-8", newline=""))
                if args.report
                else None
            )
        except OSError as exc:
            print(f"cannot open {exc.filename}: {exc.strerror}", file=sys.stderr)
            return EXIT_UNUSABLE
        return asyncio.run(_run(settings, args.file, source, size, report))


async def _run(
    settings: Settings, name: str, source: BinaryIO, size: int | None, report: TextIO | None
) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from api.database import create_engine, create_session_factory
    from records.imports.service import ImportInterrupted, run_import

    console = Console(stderr=True)
    on_rejection = _rejection_writer(report)
    engine = create_engine(settings.database_url)
    started = time.perf_counter()
    try:
        # Progress by bytes read (the number of lines is not known ahead); only on a terminal.
        with Progress(
            *Progress.get_default_columns()[:1],
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        ) as progress:
            task = progress.add_task(f"importing {name}", total=size)
            summary = await run_import(
                create_session_factory(engine),
                source,
                on_rejection=on_rejection,
                on_progress=lambda n: progress.advance(task, n),
            )
    except ImportInterrupted as exc:
        print(_summary_text(exc.summary, name, time.perf_counter() - started))
        cause = exc.__cause__
        reason = f"{type(cause).__name__}: {str(cause).splitlines()[0][:300]}" if cause else "?"
        print(
            f"import stopped at line {exc.line}: database error ({reason}). "
            "Lines before it are committed; run the same file again to finish.",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    finally:
        await engine.dispose()
    print(_summary_text(summary, name, time.perf_counter() - started))
    rejected = summary.total.rejected
    if rejected and report is not None:
        print(f"{rejected} rejected line(s) listed in {report.name}", file=sys.stderr)
    return EXIT_REJECTED if rejected else EXIT_OK


def _rejection_writer(report: TextIO | None) -> Callable[[Rejection], None]:
    """Every rejection to the CSV report, and the first ones (or all, without one) to stderr."""
    from records.imports.report import ReportWriter

    writer = ReportWriter(report) if report is not None else None
    shown = 0

    def write(rejection: Rejection) -> None:
        nonlocal shown
        if writer is not None:
            writer(rejection)
        if writer is None or shown < SHOWN_REJECTIONS:
            shown += 1
            where = f" {rejection.field}" if rejection.field else ""
            kind = rejection.type or "?"
            print(
                f"line {rejection.line} ({kind}){where}: {rejection.code}: {rejection.detail}",
                file=sys.stderr,
            )

    return write


def _summary_text(summary: Summary, name: str, seconds: float) -> str:
    from records.imports.outcome import UNKNOWN

    rate = summary.lines / seconds if seconds > 0 else 0.0
    head = ("", "inserted", "updated", "unchanged", "deleted", "rejected")
    rows = [f"{head[0]:<14}" + "".join(f"{h:>11}" for h in head[1:])]
    for kind, counts in (*summary.counts.items(), ("total", summary.total)):
        if kind == UNKNOWN and not counts.rejected:
            continue
        label = "(unreadable)" if kind == UNKNOWN else kind
        values = (counts.inserted, counts.updated, counts.unchanged, counts.deleted)
        cells = "".join(f"{v:>11,}" for v in (*values, counts.rejected))
        rows.append(f"{label:<14}{cells}")
    total = summary.total
    return "\n".join(
        [
            f"imported {name}: {summary.lines:,} lines in {seconds:.1f} s ({rate:,.0f} lines/s)",
            *rows,
            f"{total.changed:,} changed, {total.rejected:,} rejected; "
            f"{summary.replanned:,} changed deadline(s) planned again for reminders",
        ]
    )
