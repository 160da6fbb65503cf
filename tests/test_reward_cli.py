"""The documented `reward` commands, end to end on a small synthetic A/B file."""

from __future__ import annotations

import random

import pytest

from pushgen_core.__main__ import main
from tests.test_reward_train import NOUNS, VERBS


@pytest.fixture
def ab_file(tmp_path):
    rng = random.Random(5)
    lines = ["clickability_test_id,eyecatcher_id,headline,impressions,clicks"]
    for experiment in range(160):
        topic = f"{rng.choice(NOUNS)} {rng.choice(VERBS)} {rng.choice(NOUNS)}"
        other = f"{rng.choice(NOUNS)} {rng.choice(VERBS)} {rng.choice(NOUNS)}"
        lines.append(f"x{experiment},img,amazing {topic},1000,{rng.randint(150, 200)}")
        lines.append(f"x{experiment},img,{other},1000,{rng.randint(80, 120)}")
        lines.append(f"x{experiment},img2,{other} again,1000,100")  # no partner
    path = tmp_path / "ab.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_import_train_eval_versions_promote_rollback(settings, ab_file, capsys):
    assert main(["reward", "import-ab", str(ab_file)]) == 0
    out = capsys.readouterr().out
    assert "480 variants in 160 experiments -> 160 pairs" in out

    train = ["reward", "train", "--encoder", "hashing", "--head-only"]
    assert main([*train, "--version", "v1-cli"]) == 0
    out = capsys.readouterr().out
    assert "Saved v1-cli" in out and "significant, no near-duplicates" in out
    assert main([*train, "--version", "v2-cli", "--promote"]) == 0
    assert "v2-cli is now the active reward model" in capsys.readouterr().out

    assert main(["reward", "versions"]) == 0
    out = capsys.readouterr().out
    assert "v1-cli" in out and "v2-cli" in out and "prior-" in out

    assert main(["reward", "eval"]) == 0
    out = capsys.readouterr().out
    assert "Reward model v2-cli" in out and "calibration" in out

    assert main(["reward", "eval", "--ab", str(ab_file)]) == 0
    out = capsys.readouterr().out
    assert "all pairs of ab.csv" in out and "held-out experiments of ab.csv" in out

    assert main(["reward", "promote", "v1-cli"]) == 0
    assert main(["reward", "rollback"]) == 0
    assert "v2-cli is now the active" in capsys.readouterr().out.splitlines()[-1]


def test_errors_are_messages_with_exit_code_2(settings, tmp_path, capsys):
    bad = tmp_path / "bad.csv"
    bad.write_text("clickability_test_id,headline,impressions\ne,a,1\n")
    assert main(["reward", "import-ab", str(bad), "--match-col", ""]) == 2
    err = capsys.readouterr().err
    assert "error: bad.csv" in err and "pass --clicks-col NAME" in err
    assert main(["reward", "train", "--head-only"]) == 2
    assert "No training pairs" in capsys.readouterr().err
    assert main(["reward", "promote", "nope"]) == 2
    assert "no reward model version named 'nope'" in capsys.readouterr().err
