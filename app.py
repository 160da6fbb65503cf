"""PushGen: write push notifications with a local LLM, rank them, review them."""

import logging
import os

# OpenMP threads that sleep instead of spinning: on a 2-core machine shared with other
# processes, spinning threads made generation 10x slower. Must precede torch.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import streamlit as st  # noqa: E402

import ui  # noqa: E402
from pushgen_core.store import safe_url  # noqa: E402

logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
st.set_page_config(page_title="PushGen", page_icon="🔔", layout="wide")

# Navigation
pages = st.navigation(
    [
        st.Page("pages/1_generate.py", title="Generate", icon="✍️", default=True),
        st.Page("pages/2_labels.py", title="Labels", icon="🏷️"),
        st.Page("pages/3_reward_model.py", title="Reward model", icon="📈"),
    ]
)

# Shared sidebar: who is reviewing, for which channel
settings = ui.settings()
with st.sidebar:
    st.title("🔔 PushGen")
    st.text_input(
        "Reviewer name",
        key=ui.REVIEWER_KEY,
        placeholder="e.g. alex",
        help="Stored with every accept, reject and edit.",
    )
    try:
        channels = ui.catalog(ui.settings_key(settings)).channels
    except Exception as exc:  # a broken channels/taxonomy file
        ui.stop_with_error(exc)
    st.selectbox(
        "Channel",
        options=list(channels),
        format_func=lambda channel_id: (
            f"{channels[channel_id].name} (title ≤ {channels[channel_id].title_max}, "
            f"body ≤ {channels[channel_id].body_max})"
        ),
        key=ui.CHANNEL_KEY,
    )
    st.caption(f"Model: `{settings.model}` · quantization: `{settings.quantization}`")
    st.caption(f"Labels: `{safe_url(settings.resolved_database_url)}`")
    st.caption(
        "Ranking helps, it does not decide: the reward model can favour clickbait or "
        "invented facts. Every notification needs a human reviewer."
    )

pages.run()
