"""What every command starts from: the `.env` file, the settings, and the flows and intents
that its command line names."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bot.errors import ConfigError
from bot.flows.compiler import CompiledCatalog, compile_catalog
from bot.flows.loader import load_catalog
from bot.settings import Settings, settings_problems


def load_env_file() -> None:
    """The variables of BOT_ENV_FILE (default `.env` in the current folder, when there is
    one) into the environment; a variable the environment already has keeps its value."""
    path = os.environ.get("BOT_ENV_FILE", ".env")
    if not path:
        return
    if not Path(path).is_file():
        if "BOT_ENV_FILE" in os.environ:
            raise ConfigError(f"BOT_ENV_FILE={path}: no such file")
        return
    from dotenv import load_dotenv

    load_dotenv(path, override=False)


def load_settings(**overrides: Any) -> Settings:
    """The settings of the environment, with the options given on the command line (those
    not None) over them; ConfigError naming every problem."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as e:
        raise ConfigError(settings_problems(e)) from None


def flow_sources(args: argparse.Namespace) -> tuple[Path, Path]:
    """The flows file (a positional path, --flows, else BOT_FLOWS) and the intents folder
    (--intents, else BOT_INTENTS, else the `intents/` beside a flows file named here)."""
    settings = load_settings()
    named = getattr(args, "path", None) or args.flows
    flows = Path(named) if named else settings.flows
    if args.intents:
        intents = Path(args.intents)
    elif named and "intents" not in settings.model_fields_set:
        intents = flows.parent / "intents"
    else:
        intents = settings.intents
    return flows, intents


def compiled_catalog(flows: Path, intents: Path) -> CompiledCatalog:
    """The flows and intents loaded, cross-checked and compiled; SpecError naming each
    problem."""
    return compile_catalog(load_catalog(flows, intents))
