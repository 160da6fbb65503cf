import csv
import io
import threading

import pytest

from pushgen_core.errors import InputError
from pushgen_core.store import LabelInput, LabelStore, StoreError, labels_to_csv


def make_label(**changes) -> LabelInput:
    values = dict(
        candidate_id="c1",
        brief_id="b1",
        decision="accepted",
        title="Dog saves boy",
        body="At the lake.",
        category="news",
        style="curiosity",
        item_text="Max the retriever pulled a boy from the lake.",
        prompt="<user> ...",
        generator_model="SmolLM2-135M-Instruct, int4, cpu",
        reward_version="prior",
        reviewer="alex",
        score=0.7,
        rank=1,
    )
    values.update(changes)
    return LabelInput(**values)


def test_label_survives_reopening_the_database(settings):
    LabelStore(settings.resolved_database_url).record(make_label())
    reopened = LabelStore(settings.resolved_database_url)
    [label] = reopened.list_labels()
    assert (label.decision, label.title, label.reviewer) == (
        "accepted",
        "Dog saves boy",
        "alex",
    )
    assert label.reward_version == "prior" and label.score == 0.7


def test_same_decision_twice_is_one_label(fresh_store):
    _, created = fresh_store.record(make_label())
    _, created_again = fresh_store.record(make_label())
    assert (created, created_again) == (True, False)
    assert len(fresh_store.list_labels()) == 1


def test_changed_decision_updates_and_keeps_history(fresh_store):
    first, _ = fresh_store.record(make_label())
    fresh_store.record(make_label(decision="rejected", reject_reasons=("clickbait",)))
    [label] = fresh_store.list_labels()
    assert label.decision == "rejected"
    assert label.reject_reason_list == ["clickbait"]
    assert [e.decision for e in fresh_store.events(first.id)] == [
        "accepted",
        "rejected",
    ]


def test_two_reviewers_get_two_labels(fresh_store):
    fresh_store.record(make_label())
    fresh_store.record(make_label(reviewer="sam", decision="rejected"))
    assert sorted(label.reviewer for label in fresh_store.list_labels()) == [
        "alex",
        "sam",
    ]


def test_edit_keeps_both_texts(fresh_store):
    fresh_store.record(
        make_label(
            decision="edited",
            title="Max saves a boy",
            body="At Lake Park on Sunday.",
            original_title="Dog saves boy",
            original_body="At the lake.",
        )
    )
    [label] = fresh_store.list_labels(decision="edited")
    assert (label.title, label.original_title) == ("Max saves a boy", "Dog saves boy")


def test_concurrent_tabs_never_duplicate(settings):
    url = settings.resolved_database_url
    LabelStore(url)  # create tables once
    errors = []

    def click():
        try:
            LabelStore(url).record(make_label())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=click) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(LabelStore(url).list_labels()) == 1


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"reviewer": " "}, "enter your name in the sidebar"),
        ({"decision": "maybe"}, "Unknown decision 'maybe'"),
        ({"decision": "edited", "original_title": None}, "must keep the original"),
        (
            {
                "decision": "edited",
                "original_title": "Dog saves boy",
                "original_body": "At the lake.",
            },
            "The edit changes nothing",
        ),
        (
            {"decision": "rejected", "reject_reasons": ("ugly",)},
            "Unknown reject reason",
        ),
    ],
)
def test_invalid_labels_are_refused_with_a_fix(fresh_store, changes, message):
    with pytest.raises(InputError, match=message):
        fresh_store.record(make_label(**changes))
    assert fresh_store.list_labels() == []


def test_filters_and_csv_export(fresh_store):
    fresh_store.record(make_label())
    fresh_store.record(
        make_label(
            candidate_id="c2",
            decision="rejected",
            reject_reasons=("tone", "clickbait"),
            category="tech",
        )
    )
    assert [
        label.candidate_id for label in fresh_store.list_labels(category="tech")
    ] == ["c2"]
    rows = list(csv.DictReader(io.StringIO(labels_to_csv(fresh_store.list_labels()))))
    assert {row["candidate_id"]: row["reject_reasons"] for row in rows} == {
        "c1": "",
        "c2": "tone;clickbait",
    }


def test_bad_database_url_says_how_to_fix():
    with pytest.raises(StoreError, match="PUSHGEN_DATABASE_URL"):
        LabelStore("not a url")


def test_database_that_is_not_sqlite_is_reported(tmp_path):
    path = tmp_path / "labels.db"
    path.write_text("this is not a database" * 100)
    with pytest.raises(StoreError, match="is a PushGen database"):
        LabelStore(f"sqlite:///{path}")
    assert path.read_text().startswith("this is not a database")


def test_reviewer_name_is_stripped(fresh_store):
    fresh_store.record(make_label(reviewer=" alex "))
    fresh_store.record(make_label(reviewer="alex"))
    assert [label.reviewer for label in fresh_store.list_labels()] == ["alex"]


def test_database_of_another_schema_is_refused(tmp_path):
    import sqlite3

    path = tmp_path / "labels.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE labels (id INTEGER PRIMARY KEY, title TEXT)")
        connection.execute("INSERT INTO labels (title) VALUES ('keep me')")
    with pytest.raises(StoreError, match="lacks the column\\(s\\) body, brief_id"):
        LabelStore(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        assert connection.execute("SELECT title FROM labels").fetchall() == [
            ("keep me",)
        ]


def test_unwritable_folder_says_where_to_point(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match="Cannot create the folder .*PUSHGEN_DATA_DIR"):
        LabelStore(f"sqlite:///{blocker}/sub/labels.db")


def test_passwords_never_appear_in_messages():
    with pytest.raises(StoreError) as raised:
        LabelStore("postgresql+nodriver://bob:s3cret@127.0.0.1:1/db")
    assert "s3cret" not in str(raised.value)
    assert "***" in str(raised.value)


def test_csv_export_defuses_spreadsheet_formulas(fresh_store):
    fresh_store.record(make_label(title='=HYPERLINK("x")', body="+1 then @me"))
    [row] = list(csv.DictReader(io.StringIO(labels_to_csv(fresh_store.list_labels()))))
    assert (row["title"], row["body"]) == ('\'=HYPERLINK("x")', "'+1 then @me")


def test_lone_surrogate_is_refused_with_a_message(fresh_store):
    with pytest.raises(InputError, match="not valid Unicode text"):
        fresh_store.record(make_label(title="bad \udc80 text"))


def test_foreign_database_gets_no_new_tables(tmp_path):
    import sqlite3

    path = tmp_path / "other.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE labels (id INTEGER PRIMARY KEY)")
    with pytest.raises(StoreError):
        LabelStore(f"sqlite:///{path}")
    with sqlite3.connect(path) as connection:
        tables = connection.execute("SELECT name FROM sqlite_master").fetchall()
    assert tables == [("labels",)]
