import pytest

from pushgen_core.config import Settings
from pushgen_core.errors import ConfigError
from pushgen_core.taxonomy import load_banned_terms, load_channels, load_taxonomy


def test_shipped_taxonomy_has_categories_styles_and_examples():
    taxonomy = load_taxonomy(Settings().taxonomy_path)
    for category in (
        "news",
        "entertainment",
        "sports",
        "food",
        "tech",
        "lifestyle",
        "deals",
    ):
        assert category in taxonomy.categories
    for style in (
        "curiosity",
        "emotional",
        "practical",
        "urgency",
        "humour",
        "plot_teaser",
        "question",
        "listicle",
    ):
        assert taxonomy.styles[style].examples


def test_shipped_channels_include_ios_and_android():
    channels = load_channels(Settings().channels_path)
    assert channels["ios"].title_max < channels["android"].title_max


def test_unknown_category_lists_the_known_ones():
    taxonomy = load_taxonomy(Settings().taxonomy_path)
    with pytest.raises(ConfigError, match="Unknown category 'weather'.*news"):
        taxonomy.category("weather")


def test_style_without_instruction_is_rejected(tmp_path):
    path = tmp_path / "taxonomy.toml"
    path.write_text(
        '[categories.news]\nname = "News"\ninstruction = "Facts."\n'
        '[styles.odd]\nname = "Odd"\n'
    )
    with pytest.raises(
        ConfigError,
        match=r"\[styles.odd\] needs a non-empty text "
        "'instruction'",
    ):
        load_taxonomy(path)


def test_invalid_toml_names_the_file(tmp_path):
    path = tmp_path / "taxonomy.toml"
    path.write_text("[categories\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_taxonomy(path)


def test_missing_file_says_which_variable_to_fix(tmp_path):
    with pytest.raises(ConfigError, match="PUSHGEN_TAXONOMY"):
        load_taxonomy(tmp_path / "nope.toml")


def test_channel_limit_must_be_positive_integer(tmp_path):
    path = tmp_path / "channels.toml"
    path.write_text("[channels.web]\ntitle_max = 0\nbody_max = 10\npayload_bytes = 9\n")
    with pytest.raises(ConfigError, match="'title_max' must be a positive integer"):
        load_channels(path)


def test_banned_terms_skip_comments_and_blanks(tmp_path):
    path = tmp_path / "banned.txt"
    path.write_text("# comment\n\nclick here\n  免费  \n")
    assert load_banned_terms(path) == ("click here", "免费")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("categories = 5\n", "'categories' must be a set of"),
        ('[categories]\nnews = "flat"\n', "'categories.news' must be a table"),
        (
            '[categories.news]\nname = "N"\ninstruction = "I"\n[styles.q]\nname = "Q"\n'
            'instruction = "I"\nexamples = "not a list"\n',
            "'examples' must be a list",
        ),
    ],
)
def test_wrong_shapes_name_the_key(tmp_path, text, message):
    path = tmp_path / "taxonomy.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_taxonomy(path)


def test_channels_as_a_list_is_refused(tmp_path):
    path = tmp_path / "channels.toml"
    path.write_text("channels = [1, 2]\n")
    with pytest.raises(ConfigError, match="'channels' must be a set of"):
        load_channels(path)


def test_binary_files_and_folders_are_config_errors(tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ConfigError, match="not UTF-8 text|not valid TOML"):
        load_taxonomy(binary)
    with pytest.raises(ConfigError, match="Cannot read the channels file"):
        load_channels(tmp_path)
    latin = tmp_path / "banned.txt"
    latin.write_bytes(b"caf\xe9\n")
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_banned_terms(latin)


def test_empty_banned_list_warns(tmp_path, caplog):
    path = tmp_path / "banned.txt"
    path.write_text("# nothing\n")
    assert load_banned_terms(path) == ()
    assert "lists no terms" in caplog.text
