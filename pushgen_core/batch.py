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
from dataclasses import dataclass, field, replace
from pathlib import Path

from pushgen_core.errors import InputError, PushGenError
from pushgen_core.pipeline import Catalog, GenerationOptions, GenerationResult, Pipeline
from pushgen_core.prompt import Brief
from pushgen_core.taxonomy import Taxonomy

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


@dataclass
class BatchPlan:
    """The checked items of a batch, made before any model is loaded."""

    briefs: list[tuple[int, Brief]]
    errors: list[RowError]


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"The items file {path} does not exist.") from None
    except IsADirectoryError:
        raise InputError(
            f"The items path {path} is a folder, not a CSV file."
        ) from None
    except OSError as exc:
        raise InputError(
            f"Cannot read the items file {path}: {exc.strerror}."
        ) from None
    # Undecodable bytes become lone surrogates; the rows holding them are reported
    return raw.decode("utf-8-sig", errors="surrogateescape")


def _has_undecodable(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def check_output_path(items_path: Path, out_path: Path) -> None:
    """Refuse an output that would overwrite the input or cannot be written."""
    suffix = out_path.suffix.lower()
    if suffix not in (".jsonl", ".csv"):
        raise InputError(
            f"Output file {out_path} must end in .jsonl or .csv (got '{suffix}')."
        )
    if out_path.exists() and out_path.is_dir():
        raise InputError(f"Output path {out_path} is a folder; name a file.")
    if out_path.resolve() == items_path.resolve():
        raise InputError(
            f"--out {out_path} is the items file itself; choose a different --out "
            "so the items are not overwritten."
        )


def plan_batch(
    catalog: Catalog,
    items_path: Path,
    out_path: Path,
    channel: str = "android",
    default_category: str | None = None,
    default_styles: tuple[str, ...] = (),
) -> BatchPlan:
    """Check the options and read the items; bad rows become RowErrors.

    Row numbers are the file's line numbers (the header is line 1; a quoted value
    spanning lines counts where its row ends).
    """
    catalog.channel(channel)
    if default_category is not None:
        catalog.taxonomy.category(default_category)
    for style_id in default_styles:
        catalog.taxonomy.style(style_id)
    check_output_path(items_path, out_path)
    text = _read_text(items_path)
    if not text.strip():
        raise InputError(
            f"The items file {items_path} is empty; it needs a header row "
            "(item_id,description[,category,style])."
        )
    delimiter = ","
    try:
        # Only the delimiter: quoting rules guessed from one line are unreliable
        delimiter = csv.Sniffer().sniff(text.splitlines()[0], ",;\t").delimiter
    except csv.Error:
        pass
    reader = csv.DictReader(
        io.StringIO(text, newline=""), delimiter=delimiter, restkey=_EXTRA, strict=True
    )
    try:
        header = reader.fieldnames or []
    except csv.Error as exc:
        raise InputError(
            f"{items_path}: the header row is not valid CSV ({exc})."
        ) from None
    if _has_undecodable("".join(header)):
        raise InputError(
            f"{items_path}: the header is not UTF-8 text; save the file as UTF-8 CSV."
        )
    columns = {name.strip() for name in header}
    missing = [name for name in ("item_id", "description") if name not in columns]
    if missing:
        raise InputError(
            f"{items_path}: column(s) {', '.join(missing)} missing; the header has "
            f"{', '.join(sorted(columns)) or 'nothing'}. Required: item_id, "
            "description; optional: category, style."
        )
    taxonomy = catalog.taxonomy
    plan = BatchPlan(briefs=[], errors=[])
    seen_ids: set[str] = set()
    while True:
        last_line = reader.line_num
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            plan.errors.append(
                RowError(
                    last_line + 1,
                    f"malformed CSV ({exc}): a quote opened on this row is never "
                    "closed; the rest of the file was not read",
                )
            )
            break
        row_number = reader.line_num
        problem = _row_problem(
            row, seen_ids, taxonomy, default_category, default_styles
        )
        if isinstance(problem, str):
            plan.errors.append(RowError(row_number, problem))
            continue
        seen_ids.add(problem.item_id)
        plan.briefs.append((row_number, replace(problem, channel=channel)))
    for error in plan.errors:
        logger.warning("Row %d skipped: %s", error.row, error.message)
    return plan


def _row_problem(
    row: dict,
    seen_ids: set[str],
    taxonomy: Taxonomy,
    default_category: str | None,
    default_styles: tuple[str, ...],
) -> Brief | str:
    """The row's brief, or what is wrong with it."""
    if _EXTRA in row:
        return (
            f"{len(row[_EXTRA])} more field(s) than the header; quote values that "
            "contain the delimiter"
        )
    row = {(key or "").strip(): (value or "").strip() for key, value in row.items()}
    undecodable = [key for key, value in row.items() if _has_undecodable(value)]
    if undecodable:
        return (
            f"bytes that are not UTF-8 in {', '.join(undecodable)}; save the file as "
            "UTF-8"
        )
    item_id, description = row.get("item_id", ""), row.get("description", "")
    category = row.get("category") or default_category
    styles = (
        tuple(
            s.strip() for s in _STYLE_SEPARATOR.split(row.get("style", "")) if s.strip()
        )
        or default_styles
    )
    if not item_id:
        return "item_id is empty"
    if item_id in seen_ids:
        return f"item_id '{item_id}' appears twice"
    if not description:
        return "description is empty"
    if not category:
        return "no category: fill the column or pass --category"
    if category not in taxonomy.categories:
        return (
            f"unknown category '{category}' (known: "
            f"{', '.join(sorted(taxonomy.categories))})"
        )
    if not styles:
        return "no style: fill the column or pass --style"
    unknown = [s for s in styles if s not in taxonomy.styles]
    if unknown:
        return (
            f"unknown style(s) {', '.join(unknown)} (known: "
            f"{', '.join(sorted(taxonomy.styles))})"
        )
    return Brief(
        description=description, category=category, styles=styles, item_id=item_id
    )


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
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.handle = open(path, "w", encoding="utf-8", newline="")
        except OSError as exc:
            raise InputError(
                f"Cannot write the output file {path}: {exc.strerror}. Choose another "
                "--out."
            ) from None
        self.csv = None
        if path.suffix.lower() == ".csv":
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
    plan: BatchPlan | None = None,
) -> BatchReport:
    """Run every good row of ``items_path``; write rows to ``out_path`` as they finish.

    A row whose generation fails, for any reason, is reported and the rest still run.
    """
    options.validate()
    if plan is None:
        plan = plan_batch(
            pipeline.catalog,
            items_path,
            out_path,
            channel,
            default_category,
            default_styles,
        )
    report = BatchReport(errors=list(plan.errors))
    writer = _Writer(out_path)
    try:
        for position, (row_number, brief) in enumerate(plan.briefs, start=1):
            if on_item:
                on_item(position, len(plan.briefs), brief.item_id)
            try:
                result = pipeline.run(brief, options)
            except PushGenError as exc:
                report.errors.append(RowError(row_number, str(exc)))
                logger.warning("Row %d failed: %s", row_number, exc)
                continue
            except Exception as exc:  # a model failure must not end the whole batch
                report.errors.append(
                    RowError(
                        row_number, f"generation failed: {type(exc).__name__}: {exc}"
                    )
                )
                logger.exception("Row %d failed", row_number)
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
