"""A/B import: validation messages, sniffing, atomic storage."""

from __future__ import annotations

import pytest

from pushgen_core.reward.ab_import import AbColumns, AbImportError, AbStore, read_ab_csv
from pushgen_core.reward.service import import_ab_file

HEADER = "clickability_test_id,eyecatcher_id,headline,impressions,clicks\n"
GOOD = HEADER + "e1,img,Dogs are great,100,10\ne1,img,Cats are great,100,20\n"


def write(tmp_path, text: str | bytes, name: str = "ab.csv"):
    path = tmp_path / name
    if isinstance(text, str):
        text = text.encode("utf-8")
    path.write_bytes(text)
    return path


class TestReadAbCsv:
    def test_good_file_gives_canonical_rows(self, tmp_path):
        rows, facts = read_ab_csv(write(tmp_path, GOOD))
        assert list(rows.columns) == [
            "experiment_id",
            "match_key",
            "text",
            "impressions",
            "clicks",
        ]
        assert rows["clicks"].tolist() == [10, 20]
        assert facts["delimiter"] == "," and not facts["had_bom"]

    def test_bom_is_stripped(self, tmp_path):
        rows, facts = read_ab_csv(write(tmp_path, b"\xef\xbb\xbf" + GOOD.encode()))
        assert facts["had_bom"]
        assert rows["experiment_id"].tolist() == ["e1", "e1"]

    def test_semicolon_delimiter_is_sniffed(self, tmp_path):
        rows, facts = read_ab_csv(write(tmp_path, GOOD.replace(",", ";")))
        assert facts["delimiter"] == ";"
        assert rows["text"].tolist() == ["Dogs are great", "Cats are great"]

    def test_empty_file(self, tmp_path):
        with pytest.raises(AbImportError, match=r"ab\.csv is empty"):
            read_ab_csv(write(tmp_path, ""))

    def test_header_only(self, tmp_path):
        with pytest.raises(AbImportError, match="has a header but no rows"):
            read_ab_csv(write(tmp_path, HEADER))

    def test_missing_column_names_the_option(self, tmp_path):
        text = GOOD.replace("clicks", "clics")
        with pytest.raises(
            AbImportError, match="column 'clicks' is missing; pass --clicks-col NAME"
        ):
            read_ab_csv(write(tmp_path, text))

    def test_missing_match_column_suggests_none(self, tmp_path):
        text = "clickability_test_id,headline,impressions,clicks\ne1,a,1,0\n"
        with pytest.raises(AbImportError, match="--match-col '' to compare all"):
            read_ab_csv(write(tmp_path, text))
        rows, _ = read_ab_csv(write(tmp_path, text), AbColumns(match=None))
        assert rows["match_key"].tolist() == [""]

    def test_mapped_columns(self, tmp_path):
        text = "exp,variant,shown,clicked\nx,Hello,10,1\nx,Bye,10,2\n"
        columns = AbColumns("exp", "variant", "shown", "clicked", None)
        rows, _ = read_ab_csv(write(tmp_path, text), columns)
        assert rows["impressions"].tolist() == [10, 10]

    def test_clicks_over_impressions_names_rows(self, tmp_path):
        text = GOOD + "e2,img,Birds,5,9\n"
        with pytest.raises(
            AbImportError,
            match=r"column 'clicks' is greater than 'impressions' in rows 4",
        ):
            read_ab_csv(write(tmp_path, text))

    def test_negative_counts(self, tmp_path):
        text = GOOD + "e2,img,Birds,-5,0\n"
        with pytest.raises(
            AbImportError,
            match=r"column 'impressions' \(impressions\) has negative counts in rows 4",
        ):
            read_ab_csv(write(tmp_path, text))

    def test_non_numeric_counts_list_every_problem(self, tmp_path):
        text = GOOD + "e2,img,Birds,many,0\ne2,img,Fish,10,1.5\ne3,img,,10,1\n"
        with pytest.raises(AbImportError) as info:
            read_ab_csv(write(tmp_path, text))
        message = str(info.value)
        assert "nothing was imported" in message
        assert (
            "column 'impressions' (impressions) has values that are not whole"
            in message
        )
        assert "rows 4 (e.g. 'many')" in message
        assert (
            "column 'clicks' (clicks) has values that are not whole numbers in rows 5"
            in message
        )
        assert "column 'headline' (variant text) is empty in rows 6" in message

    def test_missing_file(self, tmp_path):
        with pytest.raises(AbImportError, match="does not exist"):
            read_ab_csv(tmp_path / "nope.csv")

    def test_not_utf8(self, tmp_path):
        with pytest.raises(AbImportError, match="is not UTF-8 text"):
            read_ab_csv(write(tmp_path, GOOD.encode() + b"\xff\xfe bad"))


class TestStore:
    def test_bad_file_imports_nothing(self, settings, tmp_path):
        bad = write(tmp_path, GOOD + "e2,img,Birds,5,9\n")
        with pytest.raises(AbImportError):
            import_ab_file(settings, bad)
        store = AbStore(settings.data_dir)
        assert store.list_imports() == []
        assert not store.dir.exists() or not any(store.dir.iterdir())

    def test_import_is_stored_once(self, settings, tmp_path):
        path = write(tmp_path, GOOD)
        record, is_new, stats = import_ab_file(settings, path)
        assert is_new and record.rows == 2 and stats.pairs == 1
        again, is_new, _ = import_ab_file(settings, path)
        assert not is_new and again.import_id == record.import_id
        store = AbStore(settings.data_dir)
        assert len(store.list_imports()) == 1
        assert store.load()["text"].tolist() == ["Dogs are great", "Cats are great"]
        assert not list(store.dir.glob("*.partial"))

    def test_upload_bytes(self, settings):
        record, _, _ = import_ab_file(settings, GOOD.encode(), name="upload.csv")
        assert record.source_name == "upload.csv"
