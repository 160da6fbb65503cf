"""The pipeline over a CSV of items, writing ranked candidates as JSONL or CSV.

Input columns: ``item_id`` and ``description`` (required), ``category`` and ``style``
(optional; ``style`` may list several, separated by ``;`` or ``|``). A bad row is
reported with its row number and skipped; the other rows still run. Output is written
item by item and flushed, so an interrupted run keeps what it finished.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pushgen_core.errors import InputError, PushGenError
from pushgen_core.pipeline import GenerationOptions, GenerationResult, Pipeline
from pushgen_core.prompt import Brief

logger = logging.getLogger(__name__)

OUTPUT_COLUMNS = (
    "item_id",
    "category",
    "style",
    "rank",
    "title",
    "body",
    "score",
    "reward_version",
    "generator_model",
    "brief_id",
    "candidate_id",
    "filtered_reason",
)
_STYLE_SEPARATOR = re.compile(r"[;|]")
_EXTRA = "\0extra"


@dataclass(frozen=True)
class RowError:
    row: int
    message: str


@dataclass
class BatchReport:
    items_done: int = 0
    candidates_written: int = 0
    filtered: int = 0
    errors: list[RowError] = field(default_factory=list)


def read_items(
    path: Path,
    taxonomy_categories: set[str],
    taxonomy_styles: set[str],
    default_category: str | None,
    default_styles: tuple[str, ...],
    channel: str,
) -> tuple[list[tuple[int, Brief]], list[RowError]]:
    """Briefs from an items CSV, with one RowError per bad row.

    Row numbers are the file's line numbers (the header is line 1; a quoted value
    spanning lines counts where its row ends).
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"The items file {path} does not exist.") from None
    except UnicodeDecodeError:
        raise InputError(
            f"The items file {path} is not UTF-8 text; save it as UTF-8 CSV."
        ) from None
    if not text.strip():
        raise InputError(f"The items file {path} is empty; it needs a header row.")
    delimiter = ","
    try:
        # Only the delimiter: quoting rules guessed from one line are unreliable
        delimiter = csv.Sniffer().sniff(text.splitlines()[0], ",;\t").delimiter
    except csv.Error:
        pass
    reader = csv.DictReader(
        io.StringIO(text, newline=""), delimiter=delimiter, restkey=_EXTRA
    )
    columns = {name.strip() for name in reader.fieldnames or []}
    missing = [name for name in ("item_id", "description") if name not in columns]
    if missing:
        raise InputError(
            f"{path}: column(s) {', '.join(missing)} missing; the header has "
            f"{', '.join(sorted(columns)) or 'nothing'}. Required: item_id, "
            "description; optional: category, style."
        )
    briefs, errors = [], []
    seen_ids: set[str] = set()
    for row in reader:
        row_number = reader.line_num
        if _EXTRA in row:
            errors.append(
                RowError(
                    row_number,
                    f"{len(row[_EXTRA])} more field(s) than the header; quote values "
                    "that contain the delimiter",
                )
            )
            continue
        row = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
        item_id, description = row.get("item_id", ""), row.get("description", "")
        category = row.get("category") or default_category
        styles = (
            tuple(
                s.strip()
                for s in _STYLE_SEPARATOR.split(row.get("style", ""))
                if s.strip()
            )
            or default_styles
        )
        problem = None
        if not item_id:
            problem = "item_id is empty"
        elif item_id in seen_ids:
            problem = f"item_id '{item_id}' appears twice"
        elif not description:
            problem = "description is empty"
        elif not category:
            problem = "no category: fill the column or pass --category"
        elif category not in taxonomy_categories:
            problem = (
                f"unknown category '{category}' (known: "
                f"{', '.join(sorted(taxonomy_categories))})"
            )
        elif not styles:
            problem = "no style: fill the column or pass --style"
        else:
            unknown = [s for s in styles if s not in taxonomy_styles]
            if unknown:
                problem = (
                    f"unknown style(s) {', '.join(unknown)} (known: "
                    f"{', '.join(sorted(taxonomy_styles))})"
                )
        if problem:
            errors.append(RowError(row_number, problem))
            continue
        seen_ids.add(item_id)
        briefs.append(
            (
                row_number,
                Brief(
                    description=description,
                    category=category,
                    styles=styles,
                    channel=channel,
                    item_id=item_id,
                ),
            )
        )
    return briefs, errors


def result_rows(result: GenerationResult, include_filtered: bool) -> Iterator[dict]:
    """Output rows for one brief: ranked candidates by rank, then any filtered ones."""
    candidates = list(result.ranked)
    if include_filtered:
        candidates += result.filtered
    for candidate in candidates:
        yield {
            "item_id": result.brief.item_id,
            "category": result.brief.category,
            "style": candidate.style,
            "rank": candidate.rank,
            "title": candidate.title,
            "body": candidate.body,
            "score": None if candidate.score is None else round(candidate.score, 6),
            "reward_version": result.reward_version,
            "generator_model": result.generator_model,
            "brief_id": result.brief_id,
            "candidate_id": candidate.candidate_id,
            "filtered_reason": candidate.filtered_reason,
        }


class _Writer:
    def __init__(self, path: Path):
        suffix = path.suffix.lower()
        if suffix not in (".jsonl", ".csv"):
            raise InputError(
                f"Output file {path} must end in .jsonl or .csv (got '{suffix}')."
            )
        path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(path, "w", encoding="utf-8", newline="")
        self.csv = None
        if suffix == ".csv":
            self.csv = csv.DictWriter(self.handle, fieldnames=OUTPUT_COLUMNS)
            self.csv.writeheader()

    def write(self, row: dict) -> None:
        if self.csv is not None:
            self.csv.writerow(row)
        else:
            self.handle.write(json.dumps(row, ensure_ascii=False) + "\n")

    def close(self) -> None:
        self.handle.close()


def run_batch(
    pipeline: Pipeline,
    items_path: Path,
    out_path: Path,
    options: GenerationOptions,
    default_category: str | None = None,
    default_styles: tuple[str, ...] = (),
    channel: str = "android",
    include_filtered: bool = False,
    on_item: Callable[[int, int, str], None] | None = None,
) -> BatchReport:
    """Run every good row of ``items_path``; write rows to ``out_path`` as they finish."""
    options.validate()
    pipeline.catalog.channel(channel)
    taxonomy = pipeline.catalog.taxonomy
    briefs, errors = read_items(
        items_path,
        set(taxonomy.categories),
        set(taxonomy.styles),
        default_category,
        default_styles,
        channel,
    )
    report = BatchReport(errors=list(errors))
    for error in errors:
        logger.warning("Row %d skipped: %s", error.row, error.message)
    writer = _Writer(out_path)
    try:
        for position, (row_number, brief) in enumerate(briefs, start=1):
            if on_item:
                on_item(position, len(briefs), brief.item_id)
            try:
                result = pipeline.run(brief, options)
            except PushGenError as exc:
                report.errors.append(RowError(row_number, str(exc)))
                logger.warning("Row %d failed: %s", row_number, exc)
                continue
            for row in result_rows(result, include_filtered):
                writer.write(row)
                report.candidates_written += 1
            writer.handle.flush()
            report.items_done += 1
            report.filtered += len(result.filtered)
    finally:
        writer.close()
    report.errors.sort(key=lambda error: error.row)
    return report
