"""Reviewers' decisions, stored through SQLAlchemy (SQLite by default).

Two tables:

- ``labels`` holds the current decision of one reviewer on one candidate. It is keyed
  by ``(candidate_id, reviewer)``, so a double click, a Streamlit rerun or a second
  browser tab writing the same decision again changes nothing, and a reviewer who
  changes their mind updates their label instead of adding a second one.
- ``label_events`` is append-only: every decision ever recorded, so nothing a reviewer
  did is lost even when a label is later changed.

Everything a reward model needs to learn from a label is copied into it (item,
category, style, prompt, texts, generator, reward version, score), so labels stay
meaningful after taxonomies, prompts or models change.
"""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import (
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    inspect,
    select,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DatabaseError,
    IntegrityError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from pushgen_core.errors import InputError, PushGenError

logger = logging.getLogger(__name__)

DECISIONS = ("accepted", "rejected", "edited")
REJECT_REASONS = (
    "off-topic",
    "invented facts",
    "clickbait",
    "tone",
    "grammar",
    "too long",
    "duplicate",
    "other",
)
EXPORT_COLUMNS = (
    "id",
    "candidate_id",
    "brief_id",
    "item_id",
    "decision",
    "reject_reasons",
    "title",
    "body",
    "original_title",
    "original_body",
    "category",
    "style",
    "channel",
    "item_text",
    "prompt",
    "generator_model",
    "reward_version",
    "score",
    "rank",
    "reviewer",
    "created_at",
    "updated_at",
)


class StoreError(PushGenError):
    """The label database cannot be opened or written."""


class Base(DeclarativeBase):
    pass


class Label(Base):
    """One reviewer's current decision on one candidate."""

    __tablename__ = "labels"
    __table_args__ = (UniqueConstraint("candidate_id", "reviewer"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    candidate_id: Mapped[str] = mapped_column(String(64), index=True)
    brief_id: Mapped[str] = mapped_column(String(64), index=True)
    item_id: Mapped[str] = mapped_column(String(200), default="")
    decision: Mapped[str] = mapped_column(String(16), index=True)
    reject_reasons: Mapped[str] = mapped_column(Text, default="[]")
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    original_title: Mapped[str | None] = mapped_column(Text, nullable=True)
    original_body: Mapped[str | None] = mapped_column(Text, nullable=True)
    category: Mapped[str] = mapped_column(String(64), index=True)
    style: Mapped[str] = mapped_column(String(64), index=True)
    channel: Mapped[str] = mapped_column(String(64), default="")
    item_text: Mapped[str] = mapped_column(Text)
    prompt: Mapped[str] = mapped_column(Text)
    generator_model: Mapped[str] = mapped_column(String(200))
    reward_version: Mapped[str] = mapped_column(String(200))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reviewer: Mapped[str] = mapped_column(String(200), index=True)
    created_at: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[str] = mapped_column(String(40))

    @property
    def reject_reason_list(self) -> list[str]:
        return json.loads(self.reject_reasons or "[]")


class LabelEvent(Base):
    """Every decision ever recorded, in order; never updated or deleted."""

    __tablename__ = "label_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label_id: Mapped[int] = mapped_column(ForeignKey("labels.id"), index=True)
    decision: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    reject_reasons: Mapped[str] = mapped_column(Text, default="[]")
    reviewer: Mapped[str] = mapped_column(String(200))
    recorded_at: Mapped[str] = mapped_column(String(40))


@dataclass(frozen=True)
class LabelInput:
    """A decision as the UI or a script submits it."""

    candidate_id: str
    brief_id: str
    decision: str
    title: str
    body: str
    category: str
    style: str
    item_text: str
    prompt: str
    generator_model: str
    reward_version: str
    reviewer: str
    score: float | None = None
    rank: int | None = None
    channel: str = ""
    item_id: str = ""
    original_title: str | None = None
    original_body: str | None = None
    reject_reasons: tuple[str, ...] = field(default=())


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def validate_label(label: LabelInput) -> None:
    """Raise InputError, saying how to fix it, for a decision that cannot be stored."""
    if not label.reviewer.strip():
        raise InputError(
            "No reviewer name: enter your name in the sidebar before deciding."
        )
    if label.decision not in DECISIONS:
        raise InputError(
            f"Unknown decision '{label.decision}'; use one of {', '.join(DECISIONS)}."
        )
    for name in ("title", "body", "reviewer", "item_text", "original_title"):
        value = getattr(label, name) or ""
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InputError(
                f"The {name.replace('_', ' ')} contains characters that are not valid "
                "Unicode text; retype or paste it again."
            ) from None
    if not label.candidate_id or not label.brief_id:
        raise InputError("A label needs the candidate_id and brief_id it belongs to.")
    if label.decision == "edited":
        if not label.title.strip() or not label.body.strip():
            raise InputError("An edited candidate needs both a title and a body.")
        if label.original_title is None or label.original_body is None:
            raise InputError("An edit must keep the original title and body.")
        if (label.title, label.body) == (label.original_title, label.original_body):
            raise InputError(
                "The edit changes nothing; accept the candidate instead, or change "
                "the text."
            )
    unknown = [
        reason for reason in label.reject_reasons if reason not in REJECT_REASONS
    ]
    if unknown:
        raise InputError(
            f"Unknown reject reason(s) {', '.join(unknown)}; use "
            f"{', '.join(REJECT_REASONS)}."
        )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def safe_url(url: str) -> str:
    """``url`` with its password masked, for messages and the UI."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(invalid URL)"


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; SQLite files get their folder, WAL and a busy timeout."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            "The database URL is not a valid SQLAlchemy URL. Set PUSHGEN_DATABASE_URL "
            "to one such as sqlite:////path/labels.db."
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (
        None,
        "",
        ":memory:",
    ):
        folder = Path(parsed.database).expanduser().parent
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"Cannot create the folder {folder} for the label database: "
                f"{exc.strerror}. Set PUSHGEN_DATA_DIR or PUSHGEN_DATABASE_URL to a "
                "writable place."
            ) from None
    try:
        engine = create_engine(url)
    except Exception as exc:  # a driver that is not installed, for one
        raise StoreError(
            f"Cannot open the label database {safe_url(url)}: {exc}. Check "
            "PUSHGEN_DATABASE_URL and that its driver is installed."
        ) from None
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


class LabelStore:
    """Record and query reviewers' labels."""

    def __init__(self, url: str):
        self.url = url
        self.engine = create_store_engine(url)
        try:
            self._check_schema()  # before adding anything to a foreign database
        except DatabaseError as exc:
            raise self._error("open", exc) from None
        for attempt in range(3):
            try:
                Base.metadata.create_all(self.engine)
                break
            except OperationalError as exc:
                # Two processes creating a new database at once: the other one won
                if "already exists" in str(exc.orig) and attempt < 2:
                    continue
                raise self._error("create the label tables in", exc) from None
            except DatabaseError as exc:
                raise self._error("create the label tables in", exc) from None
        self._check_schema()

    def _error(self, action: str, exc: SQLAlchemyError) -> StoreError:
        reason = getattr(exc, "orig", None) or exc
        return StoreError(
            f"Cannot {action} {safe_url(self.url)}: {reason}. Check that the file is "
            "writable and is a PushGen database."
        )

    def _check_schema(self) -> None:
        """Refuse a database whose tables lack columns this version needs."""
        inspector = inspect(self.engine)
        for table in Base.metadata.sorted_tables:
            if not inspector.has_table(table.name):
                continue
            present = {column["name"] for column in inspector.get_columns(table.name)}
            missing = sorted(set(table.columns.keys()) - present)
            if missing:
                raise StoreError(
                    f"The table '{table.name}' in {safe_url(self.url)} lacks the "
                    f"column(s) {', '.join(missing)}: it was made by another program "
                    "or an older version. Point PUSHGEN_DATABASE_URL at a new file, "
                    "or add the columns."
                )

    def record(self, label: LabelInput) -> tuple[Label, bool]:
        """Store a decision; returns the label and whether it was new.

        The same decision again is a no-op; a different one from the same reviewer
        updates the label. Every change is appended to ``label_events``.
        """
        label = replace(label, reviewer=label.reviewer.strip())
        validate_label(label)
        values = asdict(label)
        values["reject_reasons"] = json.dumps(list(label.reject_reasons))
        try:
            return self._record(label, values)
        except SQLAlchemyError as exc:
            raise self._error("store the label in", exc) from None

    def _record(self, label: LabelInput, values: dict) -> tuple[Label, bool]:
        for attempt in range(2):
            with Session(self.engine) as session:
                existing = session.scalars(
                    select(Label).where(
                        Label.candidate_id == label.candidate_id,
                        Label.reviewer == label.reviewer,
                    )
                ).first()
                if existing is not None and self._same_decision(existing, values):
                    return existing, False
                now = _now()
                if existing is None:
                    row = Label(**values, created_at=now, updated_at=now)
                    session.add(row)
                else:
                    row = existing
                    for key, value in values.items():
                        setattr(row, key, value)
                    row.updated_at = now
                try:
                    session.flush()
                    session.add(
                        LabelEvent(
                            label_id=row.id,
                            decision=row.decision,
                            title=row.title,
                            body=row.body,
                            reject_reasons=row.reject_reasons,
                            reviewer=row.reviewer,
                            recorded_at=now,
                        )
                    )
                    session.commit()
                except IntegrityError:
                    # Another tab inserted the same label between our read and write
                    session.rollback()
                    if attempt == 0:
                        continue
                    raise
                session.refresh(row)
                session.expunge(row)
                logger.info("Label %s: %s by %s", row.id, row.decision, row.reviewer)
                return row, existing is None
        raise StoreError("Could not store the label; try again.")  # pragma: no cover

    @staticmethod
    def _same_decision(existing: Label, values: dict) -> bool:
        keys = ("decision", "title", "body", "reject_reasons")
        return all(getattr(existing, key) == values[key] for key in keys)

    def list_labels(
        self,
        *,
        decision: str | None = None,
        reviewer: str | None = None,
        category: str | None = None,
        style: str | None = None,
        brief_id: str | None = None,
    ) -> list[Label]:
        """Labels matching every filter given, newest first."""
        query = select(Label).order_by(Label.updated_at.desc(), Label.id.desc())
        filters = {
            Label.decision: decision,
            Label.reviewer: reviewer,
            Label.category: category,
            Label.style: style,
            Label.brief_id: brief_id,
        }
        for column, value in filters.items():
            if value:
                query = query.where(column == value)
        try:
            with Session(self.engine, expire_on_commit=False) as session:
                rows = list(session.scalars(query))
                session.expunge_all()
        except SQLAlchemyError as exc:
            raise self._error("read labels from", exc) from None
        return rows

    def events(self, label_id: int) -> list[LabelEvent]:
        with Session(self.engine) as session:
            rows = list(
                session.scalars(
                    select(LabelEvent)
                    .where(LabelEvent.label_id == label_id)
                    .order_by(LabelEvent.id)
                )
            )
            session.expunge_all()
        return rows

    def decisions_for_brief(self, brief_id: str, reviewer: str) -> dict[str, Label]:
        """This reviewer's labels on one brief, by candidate_id (to restore cards)."""
        return {
            label.candidate_id: label
            for label in self.list_labels(brief_id=brief_id, reviewer=reviewer)
        }


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _spreadsheet_safe(value):
    """Text a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def labels_to_csv(labels: Iterable[Label]) -> str:
    """CSV text of labels, one row each, with ``EXPORT_COLUMNS`` as header.

    Texts starting with = + - @ are prefixed with an apostrophe so that opening the
    file in a spreadsheet never runs them as formulas.
    """
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=EXPORT_COLUMNS)
    writer.writeheader()
    for label in labels:
        row = {
            column: _spreadsheet_safe(getattr(label, column))
            for column in EXPORT_COLUMNS
        }
        row["reject_reasons"] = ";".join(label.reject_reason_list)
        writer.writerow(row)
    return buffer.getvalue()


def labels_to_records(labels: Iterable[Label]) -> list[dict]:
    """Plain dicts (for a DataFrame), reject reasons joined with '; '."""
    records = []
    for label in labels:
        row = {column: getattr(label, column) for column in EXPORT_COLUMNS}
        row["reject_reasons"] = "; ".join(label.reject_reason_list)
        records.append(row)
    return records
