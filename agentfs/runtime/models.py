"""``provider:name`` -> a LangChain chat model, with a clear message when it cannot be had.

    resolve_model("openai:gpt-4o")          # needs langchain-openai and OPENAI_API_KEY
    resolve_model("anthropic:claude-sonnet-4-5")
    resolve_model("ollama:llama3.1")        # a local Ollama server, no key
    resolve_model("scripted:agents/scripts/memory-agent.yaml")   # offline, follows a script

Every provider is an installed LangChain integration package; agentfs depends on none of them.
A missing package or API key raises :class:`ModelUnavailableError` naming what to install or
set, before anything is sent anywhere.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentfs.errors import NotSupportedError


class ModelUnavailableError(NotSupportedError):
    """The model cannot be used here: its integration package or its API key is missing."""

    code = "model_unavailable"


@dataclass(frozen=True)
class ProviderInfo:
    """Where a provider's chat model lives and what it needs."""

    module: str
    cls: str
    package: str
    env_keys: tuple[str, ...] = ()  # one of them must be set (empty: no key needed)
    model_arg: str = "model"


PROVIDERS: dict[str, ProviderInfo] = {
    "openai": ProviderInfo("langchain_openai", "ChatOpenAI", "langchain-openai", ("OPENAI_API_KEY",)),
    "azure_openai": ProviderInfo("langchain_openai", "AzureChatOpenAI", "langchain-openai",
                                 ("AZURE_OPENAI_API_KEY",), model_arg="azure_deployment"),
    "anthropic": ProviderInfo("langchain_anthropic", "ChatAnthropic", "langchain-anthropic", ("ANTHROPIC_API_KEY",)),
    "google_genai": ProviderInfo("langchain_google_genai", "ChatGoogleGenerativeAI", "langchain-google-genai",
                                 ("GOOGLE_API_KEY", "GEMINI_API_KEY")),
    "mistralai": ProviderInfo("langchain_mistralai", "ChatMistralAI", "langchain-mistralai", ("MISTRAL_API_KEY",)),
    "groq": ProviderInfo("langchain_groq", "ChatGroq", "langchain-groq", ("GROQ_API_KEY",)),
    "deepseek": ProviderInfo("langchain_deepseek", "ChatDeepSeek", "langchain-deepseek", ("DEEPSEEK_API_KEY",)),
    "xai": ProviderInfo("langchain_xai", "ChatXAI", "langchain-xai", ("XAI_API_KEY",)),
    "fireworks": ProviderInfo("langchain_fireworks", "ChatFireworks", "langchain-fireworks", ("FIREWORKS_API_KEY",)),
    "together": ProviderInfo("langchain_together", "ChatTogether", "langchain-together", ("TOGETHER_API_KEY",)),
    "bedrock": ProviderInfo("langchain_aws", "ChatBedrockConverse", "langchain-aws"),  # AWS credential chain
    "ollama": ProviderInfo("langchain_ollama", "ChatOllama", "langchain-ollama"),
}
ALIASES = {"google": "google_genai", "gemini": "google_genai", "mistral": "mistralai", "azure": "azure_openai",
           "claude": "anthropic"}
SCRIPTED = "scripted"


def split_model(spec: str) -> tuple[str, str]:
    """``"openai:gpt-4o"`` -> ``("openai", "gpt-4o")``; a bare ``scripted`` is allowed."""
    provider, sep, name = spec.strip().partition(":")
    provider = ALIASES.get(provider.lower(), provider.lower())
    if provider == SCRIPTED:
        return provider, name
    if not sep or not provider or not name:
        raise ModelUnavailableError(
            f"model {spec!r}: use provider:name, e.g. openai:gpt-4o, anthropic:claude-sonnet-4-5, "
            f"ollama:llama3.1 or scripted:PATH (providers: {', '.join(sorted([*PROVIDERS, SCRIPTED]))})"
        )
    return provider, name


def resolve_model(spec: str, *, base_dir: str | Path | None = None, variables: dict[str, Any] | None = None,
                  **kwargs: Any) -> Any:
    """A chat model for ``provider:name``.

    Args:
        spec: ``provider:name``; ``scripted:PATH`` loads a script (relative to ``base_dir``).
        base_dir: where relative script paths start (the agent definition's folder).
        variables: template fields for a scripted model (the agent's ``vars``).
        kwargs: passed to the model's constructor (temperature, base_url, ...).

    Raises:
        ModelUnavailableError: unknown provider, integration package not installed, API key unset.
    """
    provider, name = split_model(spec)
    if provider == SCRIPTED:
        from agentfs.runtime.scripted import Script, ScriptedChatModel, load_script

        script = Script()
        if name:
            path = Path(name)
            if not path.is_absolute() and base_dir is not None:
                path = Path(base_dir) / path
            script = load_script(path)
        return ScriptedChatModel(script=script, variables=dict(variables or {}), model_name=spec)
    info = PROVIDERS.get(provider)
    if info is None:
        raise ModelUnavailableError(
            f"model {spec!r}: unknown provider {provider!r}; known: {', '.join(sorted([*PROVIDERS, SCRIPTED]))}"
        )
    if importlib.util.find_spec(info.module) is None:
        raise ModelUnavailableError(
            f"model {spec!r} needs the LangChain integration {info.package}, which is not installed: "
            f"pip install {info.package}"
        )
    if info.env_keys and not any(os.environ.get(key) for key in info.env_keys):
        raise ModelUnavailableError(
            f"model {spec!r} needs an API key: set {' or '.join(info.env_keys)} in the environment"
        )
    cls = getattr(importlib.import_module(info.module), info.cls)
    try:
        return cls(**{info.model_arg: name, **kwargs})
    except Exception as exc:  # the integration's own validation: report it in one line
        raise ModelUnavailableError(f"model {spec!r}: {info.cls} refused its settings: {exc}") from None
