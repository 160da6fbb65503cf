"""Labels: every reviewer decision, filterable, exportable as CSV."""

import pandas as pd
import streamlit as st

import ui
from pushgen_core.store import DECISIONS, labels_to_csv, labels_to_records

st.header("🏷️ Labels")
st.caption(
    "Every accept, reject and edit is a label; the reward model retrains from them on "
    "the Reward model page."
)
settings = ui.settings()
try:
    store = ui.label_store(settings.resolved_database_url)
    labels = store.list_labels()
except Exception as exc:
    ui.stop_with_error(exc)
if not labels:
    st.info("No labels yet. Accept or reject candidates on the Generate page.")
    st.stop()

# Filters
left, middle, right, last = st.columns(4)
decision = left.selectbox("Decision", ("all",) + DECISIONS)
reviewers = sorted({label.reviewer for label in labels})
reviewer = middle.selectbox("Reviewer", ["all"] + reviewers)
categories = sorted({label.category for label in labels})
category = right.selectbox("Category", ["all"] + categories)
styles = sorted({label.style for label in labels})
style = last.selectbox("Style", ["all"] + styles)
selected = [
    label
    for label in labels
    if decision in ("all", label.decision)
    and reviewer in ("all", label.reviewer)
    and category in ("all", label.category)
    and style in ("all", label.style)
]

# Table
counts = pd.Series([label.decision for label in selected]).value_counts()
columns = st.columns(len(DECISIONS) + 1)
columns[0].metric("Labels", len(selected))
for column, name in zip(columns[1:], DECISIONS, strict=True):
    column.metric(name.capitalize(), int(counts.get(name, 0)))
frame = pd.DataFrame(labels_to_records(selected))
shown = [
    "updated_at",
    "decision",
    "title",
    "body",
    "reject_reasons",
    "original_title",
    "original_body",
    "category",
    "style",
    "score",
    "rank",
    "reward_version",
    "reviewer",
    "item_id",
]
st.dataframe(
    frame[shown] if not frame.empty else frame, width="stretch", hide_index=True
)

# Export
st.download_button(
    "Download CSV",
    data=labels_to_csv(selected),
    file_name="pushgen-labels.csv",
    mime="text/csv",
    disabled=not selected,
)
