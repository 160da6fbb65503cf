"""Command line: ``python -m pushgen_core <command>``.

Commands:
  generate       run the pipeline over a CSV of items, write ranked candidates
  prepare-model  convert and cache the generator once (the app does it on first use)
  labels export  write the reviewers' labels as CSV
  reward ...     import A/B results, train, evaluate and version the reward model
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

# Sleeping OpenMP threads: spinning ones starve each other on small machines
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from pushgen_core.config import Settings
from pushgen_core.errors import PushGenError


def _generate(args: argparse.Namespace) -> int:
    from pushgen_core.batch import plan_batch, run_batch
    from pushgen_core.pipeline import Catalog, GenerationOptions
    from pushgen_core.services import build_pipeline

    settings = Settings.from_env()
    options = GenerationOptions(
        candidates_per_style=args.candidates,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        seed=args.seed,
        diversity=args.diversity,
        min_ranked=args.min_ranked,
        max_rounds=args.max_rounds,
    )
    options.validate()

    # Check the options and the items before loading any model
    plan = plan_batch(
        Catalog.from_settings(settings),
        Path(args.items),
        Path(args.out),
        args.channel,
        args.category,
        tuple(args.style or ()),
    )
    print(
        f"{len(plan.briefs)} items to run, {len(plan.errors)} bad rows. Loading the "
        "generator and the reward model...",
        file=sys.stderr,
    )
    pipeline, warnings = build_pipeline(settings)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)

    def on_item(position: int, total: int, item_id: str) -> None:
        print(f"[{position}/{total}] {item_id}", file=sys.stderr, flush=True)

    report = run_batch(
        pipeline,
        Path(args.items),
        Path(args.out),
        options,
        default_category=args.category,
        default_styles=tuple(args.style or ()),
        channel=args.channel,
        include_filtered=args.include_filtered,
        on_item=on_item,
        plan=plan,
    )
    for error in report.errors:
        print(f"row {error.row}: {error.message}", file=sys.stderr)
    print(
        f"{report.items_done} items, {report.candidates_written} candidates written "
        f"to {args.out}, {report.filtered} filtered, {len(report.errors)} bad rows"
    )
    return 1 if report.errors else 0


def _prepare_model(args: argparse.Namespace) -> int:
    from pushgen_core.services import load_generator

    generator = load_generator(Settings.from_env())
    print(f"Ready: {generator.description}")
    return 0


def _export_labels(args: argparse.Namespace) -> int:
    from pushgen_core.store import LabelStore, labels_to_csv

    store = LabelStore(Settings.from_env().resolved_database_url)
    labels = store.list_labels(
        decision=args.decision, reviewer=args.reviewer, category=args.category
    )
    text = labels_to_csv(labels)
    if args.out == "-":
        sys.stdout.write(text)
    else:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(text, encoding="utf-8")
        print(f"{len(labels)} labels written to {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m pushgen_core",
        description="PushGen: push notifications from a local LLM, ranked by reward.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more")
    commands = parser.add_subparsers(dest="command", required=True)

    # generate
    generate = commands.add_parser(
        "generate", help="ranked candidates for every item of a CSV file"
    )
    generate.add_argument(
        "--items",
        required=True,
        help="CSV with item_id, description and optionally category, style",
    )
    generate.add_argument("--out", required=True, help="output .jsonl or .csv")
    generate.add_argument("--category", help="category for rows that have none")
    generate.add_argument(
        "--style",
        action="append",
        help="style for rows that have none (repeat for several)",
    )
    generate.add_argument("--channel", default="android", help="channel profile")
    generate.add_argument(
        "--candidates", type=int, default=8, help="candidates per style (8)"
    )
    generate.add_argument("--max-new-tokens", type=int, default=48)
    generate.add_argument("--temperature", type=float, default=0.9)
    generate.add_argument("--top-p", type=float, default=0.95)
    generate.add_argument("--seed", type=int, default=None)
    generate.add_argument(
        "--diversity", type=float, default=0.3, help="0 = rank by score alone"
    )
    generate.add_argument(
        "--min-ranked",
        type=int,
        default=8,
        help="write more candidates while fewer than this pass the checks (8)",
    )
    generate.add_argument(
        "--max-rounds", type=int, default=3, help="at most this many batches (3)"
    )
    generate.add_argument(
        "--include-filtered",
        action="store_true",
        help="also write filtered candidates, with their reason and no rank",
    )
    generate.set_defaults(handler=_generate)

    # prepare-model
    prepare = commands.add_parser(
        "prepare-model", help="convert and cache the generator now"
    )
    prepare.set_defaults(handler=_prepare_model)

    # labels
    labels = commands.add_parser("labels", help="reviewers' labels")
    label_commands = labels.add_subparsers(dest="labels_command", required=True)
    export = label_commands.add_parser("export", help="write labels as CSV")
    export.add_argument("--out", default="-", help="file, or - for stdout")
    export.add_argument("--decision", choices=("accepted", "rejected", "edited"))
    export.add_argument("--reviewer")
    export.add_argument("--category")
    export.set_defaults(handler=_export_labels)

    # reward
    from pushgen_core.reward.cli import add_reward_commands

    add_reward_commands(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.handler(args)
    except PushGenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a file problem no command anticipated
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"error: {exc.strerror or exc}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
