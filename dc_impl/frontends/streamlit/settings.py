"""Session state and sidebar settings of the Claude DC page, with upstream's keys and defaults.

Upstream's ``streamlit.py`` conventions are kept so operators find the same controls and so code
that inspects ``st.session_state`` keeps working: ``messages``, ``api_key``, ``provider``,
``provider_radio``, ``model``, ``auth_validated``, ``responses``, ``tools``,
``only_n_most_recent_images``, ``custom_system_prompt``, ``hide_images``,
``token_efficient_tools_beta``, ``in_sampling_loop``, ``tool_versions``, ``output_tokens``,
``max_output_tokens``, ``thinking``, ``thinking_budget``. Our own keys start with ``dc_``.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args

import streamlit as st

CONFIG_DIR = Path("~/.anthropic").expanduser()
DEFAULT_MODEL = {
    "anthropic": "claude-sonnet-4-20250514",
    "bedrock": "us.anthropic.claude-sonnet-4-20250514-v1:0",
    "vertex": "claude-sonnet-4@20250514",
}


@dataclass(frozen=True)
class ModelConfig:
    tool_version: str
    max_output_tokens: int
    default_output_tokens: int
    has_thinking: bool = False


SONNET_3_5_NEW = ModelConfig("computer_use_20241022", 1024 * 8, 1024 * 4)
SONNET_3_7 = ModelConfig("computer_use_20250124", 128_000, 1024 * 16, has_thinking=True)
CLAUDE_4 = ModelConfig("computer_use_20250429", 128_000, 1024 * 16, has_thinking=True)


def model_config(model: str) -> ModelConfig:
    """Upstream's rule: the model name picks the tool version and the token limits."""
    return SONNET_3_7 if "3-7" in model else CLAUDE_4 if "-4" in model else SONNET_3_5_NEW


def load_from_storage(filename: str) -> str | None:
    try:
        path = CONFIG_DIR / filename
        if path.exists():
            return path.read_text().strip() or None
    except OSError:
        return None
    return None


def save_to_storage(filename: str, data: str) -> None:
    try:
        CONFIG_DIR.mkdir(parents=True, exist_ok=True)
        path = CONFIG_DIR / filename
        path.write_text(data)
        path.chmod(0o600)
    except OSError as exc:
        st.write(f"Debug: Error saving {filename}: {exc}")


def setup_state(tool_versions: tuple[str, ...]) -> None:
    state = st.session_state
    state.setdefault("messages", [])
    if "api_key" not in state:
        state.api_key = load_from_storage("api_key") or os.getenv("ANTHROPIC_API_KEY", "")
    state.setdefault("provider", os.getenv("API_PROVIDER", "anthropic") or "anthropic")
    state.setdefault("provider_radio", state.provider)
    if "model" not in state:
        reset_model(tool_versions)
    state.setdefault("auth_validated", False)
    state.setdefault("responses", {})
    state.setdefault("tools", {})
    state.setdefault("only_n_most_recent_images", 3)
    if "custom_system_prompt" not in state:
        state.custom_system_prompt = load_from_storage("system_prompt") or ""
    state.setdefault("hide_images", False)
    state.setdefault("token_efficient_tools_beta", False)
    state.setdefault("in_sampling_loop", False)
    state.setdefault("thinking", False)
    state.setdefault("dc_runner", None)
    state.setdefault("dc_live", None)
    state.setdefault("dc_turn_notes", {})
    state.setdefault("dc_last_error", None)


def reset_model(tool_versions: tuple[str, ...] = ()) -> None:
    st.session_state.model = DEFAULT_MODEL.get(str(st.session_state.provider), DEFAULT_MODEL["anthropic"])
    reset_model_conf(tool_versions)


def reset_model_conf(tool_versions: tuple[str, ...] = ()) -> None:
    conf = model_config(st.session_state.model)
    version = conf.tool_version
    if tool_versions and version not in tool_versions:
        version = tool_versions[0]
    st.session_state.tool_versions = version
    st.session_state.has_thinking = conf.has_thinking
    st.session_state.output_tokens = conf.default_output_tokens
    st.session_state.max_output_tokens = conf.max_output_tokens
    st.session_state.thinking_budget = int(conf.default_output_tokens / 2)


def validate_auth(provider: str, api_key: str | None) -> str | None:
    if provider == "anthropic" and not api_key:
        return "Enter your Anthropic API key in the sidebar to continue."
    if provider == "bedrock":
        try:
            import boto3  # type: ignore[import-not-found,unused-ignore]  # optional (Bedrock only), no stubs
        except ImportError:
            return "Install boto3 to use the Bedrock API."
        if not boto3.Session().get_credentials():
            return "You must have AWS credentials set up to use the Bedrock API."
    if provider == "vertex" and not os.environ.get("CLOUD_ML_REGION"):
        return "Set the CLOUD_ML_REGION environment variable to use the Vertex API."
    return None


def render_sidebar(providers: tuple[str, ...], tool_versions: Any, streaming_caption: str) -> bool:
    """Upstream's sidebar; returns True when Reset was pressed (the caller then clears the session)."""
    versions = tuple(get_args(tool_versions)) or tuple(tool_versions)

    def _reset_api_provider() -> None:
        if st.session_state.provider_radio != st.session_state.provider:
            st.session_state.provider = st.session_state.provider_radio
            reset_model(versions)
            st.session_state.auth_validated = False

    st.radio(
        "API Provider", options=list(providers), key="provider_radio", format_func=lambda x: str(x).title(),
        on_change=_reset_api_provider,
    )
    st.text_input("Model", key="model", on_change=reset_model_conf, args=(versions,))
    if st.session_state.provider == "anthropic":
        st.text_input(
            "Anthropic API Key", type="password", key="api_key",
            on_change=lambda: save_to_storage("api_key", st.session_state.api_key),
        )
    st.number_input(
        "Only send N most recent images", min_value=0, key="only_n_most_recent_images",
        help="To decrease the total tokens sent, remove older screenshots from the conversation",
    )
    st.text_area(
        "Custom System Prompt Suffix", key="custom_system_prompt",
        help="Additional instructions to append to the system prompt. see computer_use_demo/loop.py for the base system prompt.",
        on_change=lambda: save_to_storage("system_prompt", st.session_state.custom_system_prompt),
    )
    st.checkbox("Hide screenshots", key="hide_images")
    st.checkbox("Enable token-efficient tools beta", key="token_efficient_tools_beta")
    st.radio("Tool Versions", key="tool_versions", options=list(versions))
    st.number_input("Max Output Tokens", key="output_tokens", step=1)
    st.checkbox("Thinking Enabled", key="thinking")
    st.number_input(
        "Thinking Budget", key="thinking_budget", max_value=st.session_state.max_output_tokens, step=1,
        disabled=not st.session_state.thinking,
    )
    st.caption(streaming_caption)
    return st.button("Reset", type="primary")


def restart_display() -> None:
    """Upstream's Reset also restarts the virtual display, where the container's script is present."""
    if Path("start_all.sh").exists():
        subprocess.run("pkill Xvfb; pkill tint2", shell=True, check=False)
        time.sleep(1)
        subprocess.run("./start_all.sh", shell=True, check=False)
