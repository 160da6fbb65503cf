import csv
import json

import pytest

from pushgen_core.__main__ import main
from pushgen_core.batch import OUTPUT_COLUMNS, run_batch
from pushgen_core.errors import InputError
from pushgen_core.pipeline import GenerationOptions

OPTIONS = GenerationOptions(candidates_per_style=4, diversity=0)


def write_items(path, rows, header="item_id,description,category,style"):
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(header + "\n")
        for row in rows:
            csv.writer(handle).writerow(row)
    return path


def test_batch_writes_ranked_rows_and_reports_bad_rows(pipeline, tmp_path):
    items = write_items(
        tmp_path / "items.csv",
        [
            ("a1", "Max the dog saved a boy.", "news", "curiosity"),
            ("", "No id here.", "news", "curiosity"),
            ("a3", "A new phone.", "weather", "curiosity"),
            ("a4", "", "news", "curiosity"),
            ("a5", "A bakery opens.", "food", "question;humour"),
            ("a1", "Duplicate id.", "news", "curiosity"),
            ("a7", "A phone.", "tech", "shouting"),
        ],
    )
    out = tmp_path / "out.jsonl"
    report = run_batch(pipeline, items, out, OPTIONS)
    assert [(e.row, e.message.split(" (")[0]) for e in report.errors] == [
        (3, "item_id is empty"),
        (4, "unknown category 'weather'"),
        (5, "description is empty"),
        (7, "item_id 'a1' appears twice"),
        (8, "unknown style(s) shouting"),
    ]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert report.items_done == 2
    assert {row["item_id"] for row in rows} == {"a1", "a5"}
    assert set(rows[0]) == set(OUTPUT_COLUMNS)
    a5 = [row for row in rows if row["item_id"] == "a5"]
    assert {row["style"] for row in a5} == {"question", "humour"}
    assert sorted(row["rank"] for row in a5) == list(range(1, len(a5) + 1))
    assert all(row["score"] is not None and row["reward_version"] for row in rows)


def test_batch_csv_output_and_defaults(pipeline, tmp_path):
    items = write_items(
        tmp_path / "items.csv", [("x1", "A dog.")], header="item_id,description"
    )
    out = tmp_path / "out.csv"
    report = run_batch(
        pipeline,
        items,
        out,
        OPTIONS,
        default_category="news",
        default_styles=("curiosity",),
    )
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert report.errors == []
    assert rows[0]["category"] == "news" and rows[0]["rank"] == "1"


def test_semicolon_file_with_bom_is_read(pipeline, tmp_path):
    path = tmp_path / "items.csv"
    path.write_bytes(
        "\ufeffitem_id;description;category;style\nz1;Ein Hund.;news;"
        "curiosity\n".encode()
    )
    report = run_batch(pipeline, path, tmp_path / "out.jsonl", OPTIONS)
    assert report.items_done == 1 and report.errors == []


def test_missing_column_names_the_required_ones(pipeline, tmp_path):
    items = write_items(tmp_path / "items.csv", [("1",)], header="id")
    with pytest.raises(InputError, match="column\\(s\\) item_id, description missing"):
        run_batch(pipeline, items, tmp_path / "out.jsonl", OPTIONS)


def test_output_must_be_jsonl_or_csv(pipeline, tmp_path):
    items = write_items(tmp_path / "items.csv", [("x1", "A dog.", "news", "curiosity")])
    with pytest.raises(InputError, match="must end in .jsonl or .csv"):
        run_batch(pipeline, items, tmp_path / "out.txt", OPTIONS)


def test_cli_generate_runs_and_exits_1_on_bad_rows(
    pipeline, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        "pushgen_core.services.build_pipeline", lambda settings: (pipeline, [])
    )
    items = write_items(
        tmp_path / "items.csv",
        [("x1", "A dog.", "news", "curiosity"), ("x2", "", "news", "curiosity")],
    )
    out = tmp_path / "out.jsonl"
    code = main(
        [
            "generate",
            "--items",
            str(items),
            "--out",
            str(out),
            "--candidates",
            "3",
            "--min-ranked",
            "3",
        ]
    )
    captured = capsys.readouterr()
    assert code == 1
    assert "row 3: description is empty" in captured.err
    assert "1 items, 3 candidates written" in captured.out
    assert len(out.read_text().splitlines()) == 3


def test_cli_missing_items_file_is_an_error_message(
    pipeline, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(
        "pushgen_core.services.build_pipeline", lambda settings: (pipeline, [])
    )
    code = main(
        [
            "generate",
            "--items",
            str(tmp_path / "nope.csv"),
            "--out",
            str(tmp_path / "o.jsonl"),
        ]
    )
    assert code == 2
    assert "error: The items file" in capsys.readouterr().err


def test_quotes_newlines_and_extra_fields(pipeline, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(
        "item_id,description,category,style\n"
        'q1,"He said ""hi""\nand left, twice",news,curiosity\n'
        "q2,too,many,fields,here\n"
        "q3,A bakery.,food,question\n",
        encoding="utf-8",
    )
    report = run_batch(pipeline, path, tmp_path / "out.jsonl", OPTIONS)
    assert report.items_done == 2
    assert [(e.row, e.message.split(";")[0]) for e in report.errors] == [
        (4, "1 more field(s) than the header")
    ]


def test_out_equal_to_items_is_refused_and_items_kept(pipeline, tmp_path):
    items = write_items(tmp_path / "items.csv", [("x1", "A dog.", "news", "curiosity")])
    before = items.read_text()
    with pytest.raises(InputError, match="is the items file itself"):
        run_batch(pipeline, items, items, OPTIONS)
    assert items.read_text() == before


def test_a_crashing_row_does_not_stop_the_rest(catalog, tmp_path):
    from pushgen_core.pipeline import Pipeline
    from tests.conftest import DISTINCT_COMPLETIONS, FakeGenerator, FakeScorer

    class FlakyGenerator(FakeGenerator):
        def generate(self, messages, **kwargs):
            if "EXPLODE" in messages[1]["content"]:
                raise RuntimeError("CUDA out of memory")
            return super().generate(messages, **kwargs)

    pipeline = Pipeline(FlakyGenerator(DISTINCT_COMPLETIONS), FakeScorer(), catalog)
    items = write_items(
        tmp_path / "items.csv",
        [
            ("a", "Fine.", "news", "curiosity"),
            ("b", "EXPLODE", "news", "curiosity"),
            ("c", "Also fine.", "news", "curiosity"),
        ],
    )
    report = run_batch(pipeline, items, tmp_path / "out.jsonl", OPTIONS)
    assert report.items_done == 2
    assert [(e.row, e.message) for e in report.errors] == [
        (3, "generation failed: RuntimeError: CUDA out of memory")
    ]


def test_non_utf8_bytes_fail_only_their_row(pipeline, tmp_path):
    path = tmp_path / "items.csv"
    path.write_bytes(
        b"item_id,description,category,style\n"
        b"a,Caf\xe9 opens,food,question\n"
        b"b,A bakery opens,food,question\n"
    )
    report = run_batch(pipeline, path, tmp_path / "out.jsonl", OPTIONS)
    assert report.items_done == 1
    assert [(e.row, e.message.split(";")[0]) for e in report.errors] == [
        (2, "bytes that are not UTF-8 in description")
    ]


def test_unterminated_quote_is_reported_where_it_starts(pipeline, tmp_path):
    path = tmp_path / "items.csv"
    path.write_text(
        "item_id,description,category,style\n"
        "a0,fine,news,curiosity\n"
        'a1,"unterminated,news,curiosity\n'
        "a2,ok,news,curiosity\n"
    )
    report = run_batch(pipeline, path, tmp_path / "out.jsonl", OPTIONS)
    assert report.items_done == 1
    assert report.errors[0].row == 3
    assert "never closed" in report.errors[0].message


def test_cli_checks_options_before_loading_models(tmp_path, monkeypatch, capsys):
    def must_not_load(settings):
        raise AssertionError("the model was loaded before the options were checked")

    monkeypatch.setattr("pushgen_core.services.build_pipeline", must_not_load)
    items = write_items(tmp_path / "items.csv", [("x1", "A dog.", "news", "curiosity")])
    for extra, message in [
        (["--out", str(tmp_path / "o.txt")], "must end in .jsonl or .csv"),
        (["--out", str(tmp_path / "o.jsonl"), "--channel", "fax"], "Unknown channel"),
        (
            ["--out", str(tmp_path / "o.jsonl"), "--category", "weather"],
            "Unknown category",
        ),
        (["--out", str(items)], "is the items file itself"),
    ]:
        assert main(["generate", "--items", str(items), *extra]) == 2
        assert message in capsys.readouterr().err
