"""Read, validate and store A/B test results (one row per variant shown).

A file is validated in full before anything is written: a file with one bad row is
rejected with a message that names the rows and columns at fault, and nothing from it
is stored. Two quirks of spreadsheet exports are handled rather than rejected: a UTF-8
byte-order mark is stripped, and the delimiter (``,``, ``;``, tab or ``|``) is sniffed
from the header line.

Imports are stored under ``settings.data_dir / "ab"``: one CSV per import with the
canonical columns (``experiment_id, match_key, text, impressions, clicks``) and a
``manifest.json`` that lists the imports (id, source file name, SHA-256 of the source,
row and experiment counts, column mapping, time). Both are written to a temporary file
first and moved into place, so a crash never leaves half an import behind.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import os
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from pushgen_core.errors import PushGenError

logger = logging.getLogger(__name__)

CANONICAL_COLUMNS = ["experiment_id", "match_key", "text", "impressions", "clicks"]
_DELIMITERS = [",", ";", "\t", "|"]
_MAX_ROWS_NAMED = 8


class AbImportError(PushGenError):
    """An A/B results file cannot be imported; the message names rows and columns."""


@dataclass(frozen=True)
class AbColumns:
    """Which columns of the file hold what. Defaults match the Upworthy archive.

    match: rows are compared only when this column is equal (Upworthy: the image);
        ``None`` or ``""`` compares all variants of an experiment.
    """

    experiment: str = "clickability_test_id"
    text: str = "headline"
    impressions: str = "impressions"
    clicks: str = "clicks"
    match: str | None = "eyecatcher_id"


_OPTION = {
    "experiment": "--experiment-col",
    "text": "--text-col",
    "impressions": "--impressions-col",
    "clicks": "--clicks-col",
    "match": "--match-col",
}


@dataclass(frozen=True)
class AbImport:
    """One stored import, as listed in the manifest."""

    import_id: str
    source_name: str
    sha256: str
    rows: int
    experiments: int
    columns: dict
    imported_at: str
    delimiter: str
    had_bom: bool


def _decode(raw: bytes, name: str) -> tuple[str, bool]:
    had_bom = raw.startswith(b"\xef\xbb\xbf")
    try:
        return raw.decode("utf-8-sig"), had_bom
    except UnicodeDecodeError as exc:
        raise AbImportError(
            f"{name} is not UTF-8 text (byte {exc.start} cannot be decoded). "
            "Save it as CSV UTF-8 and import it again."
        ) from None


def _sniff_delimiter(text: str) -> str:
    header = text.splitlines()[0] if text else ""
    try:
        return csv.Sniffer().sniff(header, delimiters="".join(_DELIMITERS)).delimiter
    except csv.Error:
        counts = {d: header.count(d) for d in _DELIMITERS}
        return max(counts, key=counts.get) if max(counts.values()) else ","


def _row_list(rows: pd.Index) -> str:
    """Row numbers as a spreadsheet shows them (the header is row 1)."""
    numbers = [str(int(i) + 2) for i in rows[:_MAX_ROWS_NAMED]]
    more = len(rows) - len(numbers)
    return ", ".join(numbers) + (f" and {more} more" if more > 0 else "")


def _parse_counts(
    frame: pd.DataFrame, column: str, role: str, problems: list[str]
) -> pd.Series:
    raw = frame[column].str.strip()
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = numbers.isna() | (numbers % 1 != 0)
    if bad.any():
        example = raw[bad].iloc[0]
        problems.append(
            f"column '{column}' ({role}) has values that are not whole numbers in "
            f"rows {_row_list(frame.index[bad])} (e.g. {example!r})"
        )
    negative = ~bad & (numbers < 0)
    if negative.any():
        problems.append(
            f"column '{column}' ({role}) has negative counts in rows "
            f"{_row_list(frame.index[negative])}"
        )
    return numbers


def read_ab_csv(
    source: Path | str | bytes, columns: AbColumns = AbColumns(), name: str = ""
) -> tuple[pd.DataFrame, dict]:
    """Validated A/B rows in canonical columns, and facts about the file.

    ``source`` is a path or the file's bytes (an upload). Raises ``AbImportError``
    listing every problem found; nothing is returned from a file with any problem.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        name = name or path.name
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise AbImportError(
                f"{path} does not exist. Check the path of the A/B results file."
            ) from None
    else:
        raw, name = source, name or "the uploaded file"

    # Encoding and delimiter
    text, had_bom = _decode(raw, name)
    if not text.strip():
        raise AbImportError(
            f"{name} is empty. Export the A/B results with a header row and one row "
            "per variant."
        )
    delimiter = _sniff_delimiter(text)
    try:
        frame = pd.read_csv(
            io.StringIO(text),
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
        )
    except (pd.errors.ParserError, csv.Error) as exc:
        raise AbImportError(
            f"{name} is not a readable CSV file ({exc}). Export it again as CSV."
        ) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    if frame.empty:
        raise AbImportError(
            f"{name} has a header but no rows. Export the A/B results with one row "
            "per variant."
        )

    # Columns
    wanted = {role: getattr(columns, role) for role in _OPTION}
    if not wanted["match"]:
        wanted.pop("match")
    missing = [(role, col) for role, col in wanted.items() if col not in frame.columns]
    if missing:
        found = ", ".join(repr(c) for c in frame.columns[:12])
        fixes = "; ".join(
            f"column '{col}' is missing; pass {_OPTION[role]} NAME"
            for role, col in missing
        )
        hint = (
            " (or --match-col '' to compare all variants of an experiment)"
            if any(role == "match" for role, _ in missing)
            else ""
        )
        raise AbImportError(
            f"{name} (delimiter {delimiter!r}): {fixes}{hint}. Columns found: {found}."
        )

    # Values
    problems: list[str] = []
    experiment = frame[wanted["experiment"]].str.strip()
    if (experiment == "").any():
        problems.append(
            f"column '{wanted['experiment']}' (experiment id) is empty in rows "
            f"{_row_list(frame.index[experiment == ''])}"
        )
    variant_text = frame[wanted["text"]].str.strip()
    if (variant_text == "").any():
        problems.append(
            f"column '{wanted['text']}' (variant text) is empty in rows "
            f"{_row_list(frame.index[variant_text == ''])}"
        )
    impressions = _parse_counts(frame, wanted["impressions"], "impressions", problems)
    clicks = _parse_counts(frame, wanted["clicks"], "clicks", problems)
    over = (clicks > impressions).fillna(False)
    if over.any():
        problems.append(
            f"column '{wanted['clicks']}' is greater than '{wanted['impressions']}' in "
            f"rows {_row_list(frame.index[over])}"
        )
    if problems:
        raise AbImportError(
            f"{name}: nothing was imported because "
            + "; ".join(problems)
            + ". Fix those rows (or map other columns with the --*-col options) and "
            "import the file again."
        )

    match = frame[wanted["match"]].str.strip() if "match" in wanted else ""
    rows = pd.DataFrame(
        {
            "experiment_id": experiment,
            "match_key": match,
            "text": variant_text,
            "impressions": impressions.astype("int64"),
            "clicks": clicks.astype("int64"),
        }
    )
    facts = {
        "source_name": name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "delimiter": delimiter,
        "had_bom": had_bom,
        "columns": {role: getattr(columns, role) or "" for role in _OPTION},
    }
    return rows, facts


class AbStore:
    """Imported A/B results under ``<data_dir>/ab``."""

    def __init__(self, data_dir: Path):
        self.dir = Path(data_dir) / "ab"
        self.manifest_path = self.dir / "manifest.json"

    def list_imports(self) -> list[AbImport]:
        if not self.manifest_path.exists():
            return []
        entries = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return [AbImport(**entry) for entry in entries]

    def add(self, rows: pd.DataFrame, facts: dict) -> tuple[AbImport, bool]:
        """Store validated rows; returns the import and whether it is new.

        A file whose bytes were imported before is not stored twice.
        """
        imports = self.list_imports()
        for existing in imports:
            if existing.sha256 == facts["sha256"]:
                return existing, False
        stamp = datetime.now(UTC)
        record = AbImport(
            import_id=f"ab-{stamp:%Y%m%dT%H%M%S}-{facts['sha256'][:8]}",
            rows=len(rows),
            experiments=int(rows["experiment_id"].nunique()),
            imported_at=stamp.isoformat(timespec="seconds"),
            **facts,
        )
        self.dir.mkdir(parents=True, exist_ok=True)
        _atomic_write(
            self.dir / f"{record.import_id}.csv",
            rows[CANONICAL_COLUMNS].to_csv(index=False).encode("utf-8"),
        )
        manifest = [asdict(entry) for entry in imports] + [asdict(record)]
        _atomic_write(self.manifest_path, json.dumps(manifest, indent=2).encode())
        logger.info(
            "Imported %s as %s (%d rows)",
            record.source_name,
            record.import_id,
            record.rows,
        )
        return record, True

    def load(self, import_ids: list[str] | None = None) -> pd.DataFrame:
        """Rows of the given imports (all when ``None``), in canonical columns."""
        frames = []
        for entry in self.list_imports():
            if import_ids is not None and entry.import_id not in import_ids:
                continue
            frame = pd.read_csv(
                self.dir / f"{entry.import_id}.csv",
                dtype={"experiment_id": str, "match_key": str, "text": str},
                keep_default_na=False,
            )
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=CANONICAL_COLUMNS)
        return pd.concat(frames, ignore_index=True)


def _atomic_write(path: Path, content: bytes) -> None:
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(content)
    os.replace(partial, path)
