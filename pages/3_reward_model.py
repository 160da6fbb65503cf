"""Reward model: import A/B results, train and compare versions, watch for gaming."""

import altair as alt
import pandas as pd
import streamlit as st

import ui
from pushgen_core.errors import PushGenError
from pushgen_core.reward import select_diverse, surface_features
from pushgen_core.reward.ab_import import AbColumns
from pushgen_core.reward.encoders import MINILM, SMOLLM2
from pushgen_core.reward.features import surface_probes
from pushgen_core.reward.registry import PRIOR, Registry
from pushgen_core.reward.service import (
    evaluate_file,
    evaluate_held_out,
    import_ab_file,
    load_label_records,
    load_version,
    train_and_save,
    versions_table,
)

EXAMPLE_CANDIDATES = """\
A retired teacher spent 30 years planting trees in her town
She Planted A Tree Every Day For 30 Years. Look At Her Town Now!!!
What happens when one person plants a tree every day?
30 years, 11,000 trees: how one teacher changed her town
You won't believe what this teacher did 🌳
The town council thanked a teacher for planting trees"""

st.header("📈 Reward model")
settings = ui.settings()
key = ui.settings_key(settings)
registry = Registry(settings.reward_dir)
try:
    model, warning = ui.reward_model(key, ui.active_reward_version(settings))
    versions = versions_table(settings)
except PushGenError as exc:
    ui.stop_with_error(exc)
if warning:
    st.warning(warning)
held_out = model.metrics.get("held_out", {})
st.caption(
    f"Active version: `{model.version}` · encoder `{model.encoder}` · held-out "
    f"accuracy on significant pairs: "
    f"{held_out.get('significant', {}).get('accuracy', float('nan')):.3f}. "
    "Every score is stored with the version that produced it."
)


def column_options(prefix: str) -> AbColumns:
    defaults = AbColumns()
    with st.expander("Column names (defaults: the Upworthy archive)"):
        left, right = st.columns(2)
        return AbColumns(
            experiment=left.text_input(
                "Experiment id", defaults.experiment, key=f"{prefix}e"
            ),
            text=right.text_input("Variant text", defaults.text, key=f"{prefix}t"),
            impressions=left.text_input(
                "Impressions", defaults.impressions, key=f"{prefix}i"
            ),
            clicks=right.text_input("Clicks", defaults.clicks, key=f"{prefix}c"),
            match=left.text_input(
                "Must match to compare (empty: none)", defaults.match, key=f"{prefix}m"
            )
            or None,
        )


def show_report(report) -> None:
    st.dataframe(report.subsets, hide_index=True)
    if len(report.per_category):
        st.dataframe(report.per_category, hide_index=True)
    calibration_chart(report.calibration)


def calibration_chart(table: pd.DataFrame) -> None:
    table = pd.DataFrame(table).dropna()
    if table.empty:
        return
    points = (
        alt.Chart(table)
        .mark_line(point=True)
        .encode(
            x=alt.X(
                "predicted:Q", scale=alt.Scale(domain=[0, 1]), title="Predicted P(win)"
            ),
            y=alt.Y(
                "observed:Q", scale=alt.Scale(domain=[0, 1]), title="Observed win rate"
            ),
            tooltip=["bin", "pairs", "predicted", "observed"],
        )
    )
    diagonal = (
        alt.Chart(pd.DataFrame({"p": [0, 1]}))
        .mark_line(strokeDash=[4, 4], color="gray")
        .encode(x="p:Q", y="p:Q")
    )
    st.altair_chart(points + diagonal, width="stretch")


tab_versions, tab_train, tab_import, tab_eval, tab_labels, tab_guard = st.tabs(
    [
        "Versions",
        "Train",
        "Import A/B",
        "Evaluate",
        "Accepted vs rejected",
        "Gaming check",
    ]
)

# Versions
with tab_versions:
    st.dataframe(versions, hide_index=True)
    long = versions.melt(
        id_vars=["version"],
        value_vars=["acc_all", "acc_significant", "acc_sig_no_dup"],
        var_name="subset",
        value_name="accuracy",
    ).dropna()
    if not long.empty:
        st.altair_chart(
            alt.Chart(long)
            .mark_bar()
            .encode(
                x=alt.X("version:N", title=None),
                xOffset="subset:N",
                y=alt.Y("accuracy:Q", scale=alt.Scale(domain=[0.4, 0.9])),
                color="subset:N",
                tooltip=["version", "subset", "accuracy"],
            ),
            width="stretch",
        )
    names = list(versions["version"])
    chosen = st.selectbox("Version", names, index=0 if names else None)
    chosen_is_prior = bool(
        chosen and versions.loc[versions["version"] == chosen, "kind"].eq("prior").any()
    )
    left, right = st.columns(2)
    if left.button("Promote to active", disabled=not names):
        try:
            registry.promote(PRIOR if chosen_is_prior else chosen)
        except PushGenError as exc:
            ui.stop_with_error(exc)
        st.toast(f"{chosen} is now the active reward model.")
        st.rerun()
    if right.button("Roll back"):
        try:
            previous = registry.rollback()
        except PushGenError as exc:
            ui.stop_with_error(exc)
        st.toast(f"{previous or 'The shipped prior'} is active again.")
        st.rerun()
    if chosen:
        if chosen_is_prior:
            meta = load_version(settings, PRIOR)[0].meta
        else:
            meta = next(
                (m for m in registry.list_versions() if m["version"] == chosen), {}
            )
        curve = pd.DataFrame(meta.get("metrics", {}).get("learning_curve", []))
        if not curve.empty:
            st.subheader("Learning curve (held-out accuracy)")
            curve = curve.melt(
                id_vars=["train_pairs"],
                value_vars=[
                    c for c in ("accuracy", "significant_accuracy") if c in curve
                ],
                var_name="subset",
                value_name="held-out accuracy",
            )
            st.altair_chart(
                alt.Chart(curve)
                .mark_line(point=True)
                .encode(x="train_pairs:Q", y="held-out accuracy:Q", color="subset:N"),
                width="stretch",
            )
        calibration = meta.get("metrics", {}).get("calibration", [])
        if calibration:
            st.subheader("Calibration on held-out pairs")
            calibration_chart(pd.DataFrame(calibration))

# Train
with tab_train:
    st.write(
        "Trains a new version on the stored A/B imports and the editors' labels, "
        "holding out a fixed 20% of experiments and briefs for evaluation."
    )
    left, right = st.columns(2)
    ab_weight = left.number_input("Weight of A/B pairs", 0.0, 10.0, 1.0, 0.1)
    label_weight = right.number_input("Weight of label pairs", 0.0, 50.0, 1.0, 0.5)
    encoder = left.selectbox("Encoder", [MINILM, SMOLLM2])
    promote = right.checkbox("Make it active when done")
    mode = st.radio(
        "How",
        [
            "Refresh the head of the active version",
            "Fine-tune MiniLM's top layers",
            "Head only on frozen embeddings",
        ],
        captions=[
            "Seconds once its features are cached (the first run encodes every "
            "text, about half a minute); keeps the active version's encoder.",
            "Minutes on a laptop CPU; ranks best.",
            "Seconds once embeddings are cached; ranks worse.",
        ],
        help="The encoder choice applies to the last two.",
    )
    refresh = mode.startswith("Refresh")
    head_only = mode.startswith("Head only")
    if st.button("Train a new version", type="primary"):
        bar = st.progress(0.0, "Starting")
        try:
            result, _path = train_and_save(
                settings,
                ab_weight=ab_weight,
                label_weight=label_weight,
                encoder=encoder,
                promote=promote,
                head_only=head_only,
                refresh=refresh,
                on_progress=lambda fraction, message: bar.progress(fraction, message),
            )
        except PushGenError as exc:
            ui.stop_with_error(exc)
        st.success(f"Saved {result.model.version} in {result.seconds:.0f} s.")
        show_report(result.report)

# Import A/B
with tab_import:
    upload = st.file_uploader(
        "A/B results (CSV, one row per variant)", type=["csv", "txt"]
    )
    import_columns = column_options("import")
    if upload is not None and st.button("Import"):
        try:
            record, is_new, stats = import_ab_file(
                settings, upload.getvalue(), import_columns, upload.name
            )
        except PushGenError as exc:
            ui.stop_with_error(exc)
        verb = "Imported" if is_new else "Already imported"
        st.success(
            f"{verb} {record.source_name}: {record.rows} variants, {record.experiments} "
            f"experiments, {stats.pairs} pairs ({stats.significant} significant). "
            f"Skipped {stats.ties} ties, {stats.zero_impressions} zero-impression "
            f"variants, {stats.same_text} same-text pairs."
        )

# Evaluate
with tab_eval:
    if st.button("Evaluate the active version on held-out experiments"):
        try:
            report, _counts = evaluate_held_out(settings, model)
        except PushGenError as exc:
            ui.stop_with_error(exc)
        show_report(report)
    eval_upload = st.file_uploader(
        "Or evaluate on another A/B file", type=["csv", "txt"]
    )
    eval_columns = column_options("eval")
    if eval_upload is not None and st.button("Evaluate on this file"):
        try:
            reports = evaluate_file(
                settings, model, eval_upload.getvalue(), eval_columns
            )
        except PushGenError as exc:
            ui.stop_with_error(exc)
        for title, report in reports.items():
            st.subheader(title)
            show_report(report)

# Accepted vs rejected
with tab_labels:
    try:
        labels = load_label_records(settings)
    except PushGenError as exc:
        ui.stop_with_error(exc)
    scored = pd.DataFrame(
        [
            {"decision": lb.decision, "score": lb.score, "version": lb.reward_version}
            for lb in labels
            if lb.score is not None
        ],
        columns=["decision", "score", "version"],
    )
    if scored.empty:
        st.info(
            "No labelled candidates with a score yet: review some on the Generate page."
        )
    else:
        shown = st.selectbox("Scored by version", sorted(scored["version"].unique()))
        st.altair_chart(
            alt.Chart(scored[scored["version"] == shown])
            .mark_bar(opacity=0.6)
            .encode(
                x=alt.X("score:Q", bin=alt.Bin(maxbins=30)),
                y=alt.Y("count():Q", stack=None),
                color="decision:N",
            ),
            width="stretch",
        )

# Gaming check
with tab_guard:
    st.write(
        "Does the score reward typography rather than content? Paste candidates (one "
        "per line) to see their surface features, how the score moves under surface "
        "edits, and the diverse top-k order."
    )
    lines = st.text_area("Candidates", EXAMPLE_CANDIDATES, height=160)
    left, right = st.columns(2)
    top_k = left.number_input("Top k", 1, 20, 4)
    diversity = right.slider("Diversity (0 = score only)", 0.0, 1.0, 0.3, 0.05)
    candidates = [line.strip() for line in lines.splitlines() if line.strip()]
    if candidates and st.button("Analyse candidates"):
        with st.spinner("Scoring (the encoder loads on first use)..."):
            scores = model.score(candidates)
            order = select_diverse(scores, model.embed(candidates), top_k, diversity)
            probes = surface_probes(model.score, candidates)
        table = surface_features(candidates)
        table.insert(0, "score", scores)
        table.insert(0, "candidate", candidates)
        table["top-k rank"] = pd.Series({i: rank + 1 for rank, i in enumerate(order)})
        st.dataframe(table, hide_index=True)
        st.altair_chart(
            alt.Chart(probes)
            .mark_boxplot()
            .encode(
                x=alt.X("delta:Q", title="Score change"), y=alt.Y("probe:N", title=None)
            ),
            width="stretch",
        )
        long = table.melt(
            id_vars=["candidate", "score"],
            value_vars=[
                "length",
                "exclamation_marks",
                "all_caps_words",
                "numbers",
                "emoji",
            ],
            var_name="feature",
            value_name="count",
        )
        st.altair_chart(
            alt.Chart(long)
            .mark_circle(size=60)
            .encode(x="count:Q", y="score:Q", tooltip=["candidate"])
            .properties(width=150, height=150)
            .facet(facet="feature:N", columns=5),
        )
