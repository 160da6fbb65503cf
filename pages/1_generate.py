"""Generate: describe an item, pick a category and styles, review ranked candidates."""

import streamlit as st

import ui
from pushgen_core.errors import PushGenError
from pushgen_core.pipeline import GenerationOptions
from pushgen_core.prompt import Brief
from pushgen_core.review import decide
from pushgen_core.store import REJECT_REASONS
from pushgen_core.text import grapheme_len

st.header("✍️ Generate push notifications")
settings = ui.settings()
key = ui.settings_key(settings)
try:
    catalog = ui.catalog(key)
    store = ui.label_store(settings.resolved_database_url)
    pipeline = ui.pipeline(key)
    channel = catalog.channel(ui.channel())
except Exception as exc:
    ui.stop_with_error(exc)
taxonomy = catalog.taxonomy

# Brief
with st.form("brief"):
    description = st.text_area(
        "Item description",
        height=160,
        placeholder="Paste the article's lede, the video's synopsis or the product's "
        "description. Only facts from here may appear in the notification.",
    )
    left, right = st.columns(2)
    category = left.selectbox(
        "Content category",
        options=list(taxonomy.categories),
        format_func=lambda category_id: taxonomy.categories[category_id].name,
    )
    styles = right.multiselect(
        "Copy styles",
        options=list(taxonomy.styles),
        default=list(taxonomy.styles)[:2],
        format_func=lambda style_id: taxonomy.styles[style_id].name,
    )
    item_id = left.text_input("Item id (optional)", placeholder="e.g. article-1234")
    candidates_per_style = right.number_input(
        "Candidates per style", min_value=1, max_value=32, value=8
    )
    with st.expander("Sampling and ranking"):
        temperature = st.slider("Temperature", 0.1, 1.5, 0.9, 0.05)
        top_p = st.slider("Top-p", 0.5, 1.0, 0.95, 0.01)
        max_new_tokens = st.slider("Max new tokens", 16, 128, 48, 8)
        diversity = st.slider(
            "Diversity of the top cards (0 = score only)", 0.0, 1.0, 0.3, 0.05
        )
        seed = st.number_input("Seed (0 = random)", min_value=0, value=0)
    submitted = st.form_submit_button("Generate", type="primary")

# Generation
if submitted:
    brief = Brief(
        description=description,
        category=category,
        styles=tuple(styles),
        channel=channel.id,
        item_id=item_id.strip(),
    )
    options = GenerationOptions(
        candidates_per_style=int(candidates_per_style),
        max_new_tokens=int(max_new_tokens),
        temperature=float(temperature),
        top_p=float(top_p),
        seed=int(seed) or None,
        diversity=float(diversity),
    )
    try:
        progress = st.progress(0.0, text="Starting")
        result = pipeline.run(
            brief,
            options,
            on_progress=lambda fraction, message: progress.progress(
                min(fraction, 1.0), text=message
            ),
        )
        progress.empty()
    except Exception as exc:
        ui.stop_with_error(exc)
    st.session_state[ui.RESULT_KEY] = result

result = st.session_state.get(ui.RESULT_KEY)
if result is None:
    st.info("Describe an item and press **Generate** to get ranked candidates.")
    st.stop()

# Results
if result.reward_version != pipeline.scorer.version:
    result = pipeline.rescore(result, result.diversity)
    st.session_state[ui.RESULT_KEY] = result
    st.info(f"Rescored with the active reward model, {result.reward_version}.")
for warning in result.warnings + ui.pipeline_warnings(key):
    st.warning(warning)
if result.brief.channel != channel.id:
    st.info(
        f"These candidates were checked against the {result.brief.channel} limits. "
        f"Press Generate again for {channel.name}."
    )
    channel = catalog.channel(result.brief.channel)
st.subheader(f"{len(result.ranked)} ranked candidates")
st.caption(
    f"Generator: {result.generator_model} · reward model: {result.reward_version} · "
    f"channel: {result.brief.channel}"
)
with st.expander("Exact prompts sent to the model"):
    for style_id, prompt in result.prompts.items():
        st.markdown(f"**{taxonomy.styles[style_id].name}**")
        st.code(prompt, language=None)

reviewer = ui.reviewer()
if not reviewer:
    st.info("Enter your name in the sidebar to accept, reject or edit candidates.")
try:
    decided = store.decisions_for_brief(result.brief_id, reviewer) if reviewer else {}
except Exception as exc:
    ui.stop_with_error(exc)


def record(candidate, decision, **fields) -> bool:
    """Store a decision; on a problem show it where the reviewer clicked."""
    try:
        _, created = decide(
            store, result, candidate, decision, reviewer, catalog, **fields
        )
    except PushGenError as exc:
        st.error(str(exc))
        return False
    st.toast(f"#{candidate.rank} {decision}" + ("" if created else " (updated)"))
    return True


# Cards, two per row
rows = [result.ranked[i : i + 2] for i in range(0, len(result.ranked), 2)]
for row in rows:
    for column, candidate in zip(st.columns(2), row, strict=False):
        label = decided.get(candidate.candidate_id)
        shown_title = label.title if label else candidate.title
        shown_body = label.body if label else candidate.body
        with column.container(border=True):
            color = "red" if label and label.decision == "rejected" else "green"
            status = f" · :{color}[**{label.decision}**]" if label else ""
            st.markdown(
                f"**#{candidate.rank}** · {taxonomy.styles[candidate.style].name} · "
                f"score **{candidate.score:.3f}**{status}"
            )
            st.markdown(f"##### {shown_title}")
            st.write(shown_body)
            st.caption(
                f"{grapheme_len(shown_title)}/{channel.title_max} · "
                f"{grapheme_len(shown_body)}/{channel.body_max} characters · "
                f"reward model {result.reward_version}"
            )
            if not reviewer:
                continue
            accept, reject, edit = st.columns(3)
            if accept.button("Accept", key=f"accept-{candidate.candidate_id}"):
                if record(candidate, "accepted"):
                    st.rerun()
            with reject.popover("Reject"):
                reasons = st.multiselect(
                    "Why?", REJECT_REASONS, key=f"reasons-{candidate.candidate_id}"
                )
                if st.button("Confirm reject", key=f"reject-{candidate.candidate_id}"):
                    if record(candidate, "rejected", reject_reasons=tuple(reasons)):
                        st.rerun()
            with edit.popover("Edit"):
                new_title = st.text_input(
                    "Title", candidate.title, key=f"title-{candidate.candidate_id}"
                )
                new_body = st.text_area(
                    "Body", candidate.body, key=f"body-{candidate.candidate_id}"
                )
                st.caption(
                    f"{grapheme_len(new_title)}/{channel.title_max} · "
                    f"{grapheme_len(new_body)}/{channel.body_max} characters"
                )
                if st.button(
                    "Save edit and accept", key=f"edit-{candidate.candidate_id}"
                ):
                    if record(
                        candidate,
                        "edited",
                        edited_title=new_title,
                        edited_body=new_body,
                    ):
                        st.rerun()

# Filtered
if result.filtered:
    with st.expander(f"{len(result.filtered)} filtered candidates (with reasons)"):
        st.dataframe(
            [
                {
                    "style": candidate.style,
                    "reason": candidate.filtered_reason,
                    "title": candidate.title,
                    "body": candidate.body,
                    "model output": candidate.raw,
                }
                for candidate in result.filtered
            ],
            width="stretch",
        )
