"""``python -m pushgen_core reward ...``: import A/B results, train, evaluate, version.

Handlers print plain text and return an exit code; problems are raised as
``PushGenError`` subclasses whose message says how to fix them.
"""

from __future__ import annotations

import argparse
import sys

from pushgen_core.config import Settings
from pushgen_core.reward.ab_import import AbColumns

_WIDTH = 30


def _say(text: str = "") -> None:
    print(text)


class TextProgress:
    """A one-line progress bar on stderr (a new line per 10% when not a terminal)."""

    def __init__(self, stream=None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.last_decile = -1

    def __call__(self, fraction: float, message: str) -> None:
        fraction = min(max(fraction, 0.0), 1.0)
        bar = "#" * int(fraction * _WIDTH)
        line = f"[{bar:<{_WIDTH}}] {fraction:4.0%} {message}"
        if self.tty:
            self.stream.write("\r" + line[:110].ljust(110))
            if fraction >= 1.0:
                self.stream.write("\n")
        elif int(fraction * 10) > self.last_decile:
            self.last_decile = int(fraction * 10)
            self.stream.write(line + "\n")
        self.stream.flush()


def _add_column_options(parser: argparse.ArgumentParser) -> None:
    defaults = AbColumns()
    parser.add_argument("--experiment-col", default=defaults.experiment)
    parser.add_argument("--text-col", default=defaults.text)
    parser.add_argument("--impressions-col", default=defaults.impressions)
    parser.add_argument("--clicks-col", default=defaults.clicks)
    parser.add_argument(
        "--match-col",
        default=defaults.match,
        help="variants are compared only when this column is equal; '' for none",
    )


def _columns(args: argparse.Namespace) -> AbColumns:
    return AbColumns(
        experiment=args.experiment_col,
        text=args.text_col,
        impressions=args.impressions_col,
        clicks=args.clicks_col,
        match=args.match_col or None,
    )


def _table(rows: list[dict], columns: list[str]) -> str:
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines += [
        "  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)) for r in cells
    ]
    return "\n".join(lines)


def _cell(value) -> str:
    if isinstance(value, float):
        return "-" if value != value else f"{value:.3f}"
    return "-" if value is None else str(value)


# Handlers
def _import_ab(args: argparse.Namespace) -> int:
    from pushgen_core.reward.service import import_ab_file

    settings = Settings.from_env()
    record, is_new, stats = import_ab_file(settings, args.file, _columns(args))
    verb = "Imported" if is_new else "Already imported"
    _say(f"{verb} {record.source_name} as {record.import_id}")
    _say(
        f"{record.rows} variants in {record.experiments} experiments -> {stats.pairs} "
        f"pairs ({stats.significant} significant, |z| > 1.96)"
    )
    _say(
        f"skipped: {stats.ties} ties, {stats.zero_impressions} zero-impression "
        f"variants, {stats.same_text} pairs with the same text"
    )
    notes = []
    if record.had_bom:
        notes.append("a UTF-8 byte-order mark was stripped")
    if record.delimiter != ",":
        notes.append(f"the delimiter {record.delimiter!r} was detected")
    if notes:
        _say("note: " + "; ".join(notes))
    return 0


def _train(args: argparse.Namespace) -> int:
    from pushgen_core.reward.service import train_and_save

    settings = Settings.from_env()
    previous = None
    if args.promote and not args.prior:
        from pushgen_core.reward.registry import load_active_reward_model

        previous, _warning = load_active_reward_model(settings)
    result, path = train_and_save(
        settings,
        ab_file=args.ab,
        columns=_columns(args),
        use_labels=not args.no_labels and not args.prior,
        use_ab=not args.no_ab,
        ab_weight=args.ab_weight,
        label_weight=args.label_weight,
        encoder=args.encoder,
        version=args.version,
        prior=args.prior,
        promote=args.promote,
        head_only=args.head_only,
        refresh=args.refresh,
        on_progress=TextProgress(),
        log=_say,
    )
    _say(f"Saved {result.model.version} to {path}")
    _print_report(result.report, result.counts)
    if args.promote and not args.prior:
        _say(f"{result.model.version} is now the active reward model")
        _warn_if_worse(result.model, previous)
    return 0


def _warn_if_worse(model, previous) -> None:
    """Say so when a promoted version ranks worse on held-out significant pairs."""

    def accuracy(version_model):
        held_out = version_model.metrics.get("held_out", {})
        return held_out.get("significant", {}).get("accuracy")

    new, old = accuracy(model), accuracy(previous) if previous else None
    if new is not None and old is not None and new < old:
        _say(
            f"warning: {model.version} has {new:.3f} held-out accuracy on significant "
            f"pairs, below {old:.3f} of {previous.version} that it replaced; undo "
            "with `python -m pushgen_core reward rollback`"
        )


def _print_report(report, counts: dict | None = None) -> None:
    if counts:
        _say(
            f"train: {counts['train_pairs']} pairs in {counts['train_groups']} groups; "
            f"held out: {counts['test_pairs']} pairs in {counts['test_groups']} groups"
        )
    _say(
        _table(
            report.subsets.to_dict(orient="records"),
            ["subset", "pairs", "accuracy", "auc"],
        )
    )
    if len(report.per_category):
        _say("\nper category:")
        _say(
            _table(
                report.per_category.to_dict(orient="records"),
                ["category", "pairs", "accuracy"],
            )
        )
    _say("\ncalibration (P(win) predicted vs observed, held-out pairs in both orders):")
    _say(
        _table(
            report.calibration.to_dict(orient="records"),
            ["bin", "predicted", "observed", "pairs"],
        )
    )


def _eval(args: argparse.Namespace) -> int:
    from pushgen_core.reward.service import (
        evaluate_file,
        evaluate_held_out,
        load_version,
    )

    settings = Settings.from_env()
    model, warning = load_version(settings, args.version)
    if warning:
        _say(f"warning: {warning}")
    _say(f"Reward model {model.version} ({model.encoder})")
    if args.ab:
        reports = evaluate_file(
            settings, model, args.ab, _columns(args), TextProgress()
        )
        for title, report in reports.items():
            _say(f"\n== {title}")
            _print_report(report)
    else:
        report, counts = evaluate_held_out(settings, model, TextProgress())
        _say("\n== held-out experiments and briefs of the stored imports and labels")
        _print_report(report, counts)
    return 0


def _versions(args: argparse.Namespace) -> int:
    from pushgen_core.reward.service import versions_table

    table = versions_table(Settings.from_env())
    _say(_table(table.to_dict(orient="records"), list(table.columns)))
    return 0


def _promote(args: argparse.Namespace) -> int:
    from pushgen_core.reward.registry import Registry

    Registry(Settings.from_env().reward_dir).promote(args.version)
    _say(f"{args.version} is now the active reward model")
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from pushgen_core.reward.registry import Registry

    active = Registry(Settings.from_env().reward_dir).rollback()
    _say(f"{active or 'the shipped prior'} is now the active reward model")
    return 0


def add_reward_commands(subparsers) -> None:
    """Add ``reward`` with import-ab, train, eval, versions, promote, rollback."""
    reward = subparsers.add_parser(
        "reward", help="the reward model that ranks candidates"
    )
    commands = reward.add_subparsers(dest="reward_command", required=True)

    # import-ab
    import_ab = commands.add_parser("import-ab", help="import an A/B results CSV")
    import_ab.add_argument(
        "file", help="CSV: one row per variant with impressions, clicks"
    )
    _add_column_options(import_ab)
    import_ab.set_defaults(handler=_import_ab)

    # train
    train = commands.add_parser(
        "train", help="train a new version on A/B pairs and labels"
    )
    train.add_argument(
        "--ab", help="train on this A/B file instead of the stored imports"
    )
    _add_column_options(train)
    train.add_argument(
        "--ab-weight", type=float, default=1.0, help="weight of A/B pairs (1.0)"
    )
    train.add_argument(
        "--label-weight", type=float, default=1.0, help="weight of label pairs (1.0)"
    )
    train.add_argument(
        "--no-labels", action="store_true", help="ignore editors' labels"
    )
    train.add_argument("--no-ab", action="store_true", help="ignore A/B imports")
    train.add_argument(
        "--encoder", default=None, help="all-MiniLM-L6-v2 (default) or smollm2-135m"
    )
    train.add_argument(
        "--head-only",
        action="store_true",
        help="keep the encoder frozen and fit only a linear head on cached embeddings "
        "and surface features (seconds once cached; less accurate)",
    )
    train.add_argument(
        "--refresh",
        action="store_true",
        help="keep the active version's fine-tuned encoder, fit a new head on its "
        "cached features (seconds after the first run)",
    )
    train.add_argument(
        "--version", default=None, help="version name (default v<n>-<time>)"
    )
    train.add_argument(
        "--promote", action="store_true", help="make the new version active"
    )
    train.add_argument(
        "--prior",
        action="store_true",
        help="rebuild the shipped prior (A/B data only) into pushgen_core/reward/prior/",
    )
    train.set_defaults(handler=_train)

    # eval
    evaluate = commands.add_parser(
        "eval", help="evaluate the active (or a given) version"
    )
    evaluate.add_argument("--ab", help="evaluate on this A/B file")
    evaluate.add_argument(
        "--version", default=None, help="version to evaluate; 'prior' for the prior"
    )
    _add_column_options(evaluate)
    evaluate.set_defaults(handler=_eval)

    # versions, promote, rollback
    versions = commands.add_parser(
        "versions", help="list trained versions and their metrics"
    )
    versions.set_defaults(handler=_versions)
    promote = commands.add_parser(
        "promote", help="make a version active ('prior' for the prior)"
    )
    promote.add_argument("version")
    promote.set_defaults(handler=_promote)
    rollback = commands.add_parser(
        "rollback", help="re-activate the previously active version"
    )
    rollback.set_defaults(handler=_rollback)
