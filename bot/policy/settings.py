"""Effective settings: every value a command or a job needs, resolved in one place.

Each setting is declared once with the scopes it may be stored in, in the order they win,
and the default behind them (as Red-DiscordBot's Config registers defaults)::

    user in chat → channel → server → style → config

A read walks that chain, so no command chains ``or``s of its own; setting a key that is not
declared for a scope is an error, not a silent drop.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from bot.config import Config
from bot.i18n import lang_from_locale
from bot.models import ChatSettings, Incoming, UserSettings
from bot.storage import Store
from engine.styles import NONE, Style, StyleRegistry
from engine.styles import default_cfg as model_default_cfg


class Scope(StrEnum):
    USER = "user"  # a user's own, in this chat (on Discord: in this server)
    CHANNEL = "channel"  # the chat / channel
    SERVER = "server"  # the Discord server a channel belongs to


# setting → the scopes that may hold it, the first found wins
DECLARED: dict[str, tuple[Scope, ...]] = {
    "lang": (Scope.USER, Scope.CHANNEL),
    "style": (Scope.CHANNEL, Scope.SERVER),
    "safety": (Scope.CHANNEL,),
    "seed": (Scope.USER,),
    "cfg": (Scope.USER,),
    "steps": (Scope.USER,),
    "negative": (Scope.USER,),
    "raw": (Scope.USER,),
}
_STORED = {Scope.USER: {f.name for f in fields(UserSettings)},
           Scope.CHANNEL: {f.name for f in fields(ChatSettings)},
           Scope.SERVER: {f.name for f in fields(ChatSettings)}}
assert all(key in _STORED[s] for key, scopes in DECLARED.items() for s in scopes)


@dataclass(frozen=True, slots=True)
class Effective:
    """What the next picture of this user in this chat will use."""

    lang: str
    style: Style | None  # None: the base model
    seed: int | None  # None: a new random seed each time
    cfg: float
    steps: int
    negative: str  # the user's own negative prompt
    raw: bool
    safety: str  # strict | relaxed | off
    safety_threshold: float  # the image check's threshold (0 = no check)

    @property
    def style_name(self) -> str:
        return self.style.name if self.style else NONE


class Settings:
    """Reads and writes settings for a message's user, chat and server."""

    def __init__(self, config: Config, store: Store, styles: StyleRegistry):
        self.config = config
        self.store = store
        self.styles = styles

    async def _layers(self, msg: Incoming) -> dict[Scope, Any]:
        layers: dict[Scope, Any] = {
            Scope.USER: await self.store.user_settings(msg.platform, msg.settings_scope,
                                                       msg.user_id),
            Scope.CHANNEL: await self.store.chat_settings(msg.platform, msg.chat_id),
        }
        if msg.group_id:
            layers[Scope.SERVER] = await self.store.chat_settings(msg.platform, msg.group_id)
        return layers

    @staticmethod
    def _stored(layers: dict[Scope, Any], key: str) -> Any:
        for scope in DECLARED[key]:
            layer = layers.get(scope)
            value = getattr(layer, key, None) if layer is not None else None
            if value is not None and value != "":
                return value
        return None

    async def language(self, msg: Incoming) -> str:
        layers = await self._layers(msg)
        return self._stored(layers, "lang") or lang_from_locale(msg.locale) \
            or self.config.bot.language

    async def resolve(self, msg: Incoming, *, style: str | None = None) -> Effective:
        """The effective settings; ``style`` overrides the chat's (a ``--style`` option)."""
        layers = await self._layers(msg)
        cfg = self.config
        name = style or self._stored(layers, "style") or cfg.bot.default_style
        chosen = self.styles.get(name) if self.styles.known(name) else None
        stored = {key: self._stored(layers, key) for key in DECLARED}
        safety = stored["safety"] or cfg.safety.mode
        return Effective(
            lang=stored["lang"] or lang_from_locale(msg.locale) or cfg.bot.language,
            style=chosen,
            seed=stored["seed"],
            cfg=stored["cfg"] or self.default_cfg(chosen),
            steps=stored["steps"] or (chosen.steps if chosen else None)
            or cfg.limits.default_steps,
            negative=stored["negative"] or "",
            raw=bool(stored["raw"]),
            safety=safety,
            safety_threshold=self.safety_threshold(safety),
        )

    def default_cfg(self, style: Style | None) -> float:
        """The guidance for the model in use when the user sets none (the config's
        defaults in place of the engine's)."""
        limits = self.config.limits
        return model_default_cfg(style, self.config.engine.model == "tiny",
                                 real=limits.default_cfg, test=limits.test_model_cfg)

    def safety_threshold(self, mode: str) -> float:
        cfg = self.config.safety
        if self.config.engine.model == "tiny" and not cfg.check_test_model:
            return 0.0  # the tiny CLIP's one unsafe concept is a skull: only when asked
        return {"strict": cfg.strict_threshold, "relaxed": cfg.relaxed_threshold}.get(mode, 0.0)

    async def stored(self, msg: Incoming, scope: Scope) -> Any:
        """The values stored in one scope (unset ones are None)."""
        return (await self._layers(msg)).get(scope) or ChatSettings()

    async def set(self, msg: Incoming, scope: Scope, **values: Any) -> None:
        """Store ``values`` in ``scope``; a key not declared there raises ``KeyError``."""
        wrong = [k for k in values if k not in DECLARED or scope not in DECLARED[k]]
        if wrong:
            raise KeyError(f"not a {scope} setting: {', '.join(wrong)}")
        if scope is Scope.USER:
            await self.store.set_user(msg.platform, msg.settings_scope, msg.user_id, **values)
        elif scope is Scope.CHANNEL:
            await self.store.set_chat(msg.platform, msg.chat_id, **values)
        else:
            if not msg.group_id:
                raise KeyError("this chat has no server")
            await self.store.set_chat(msg.platform, msg.group_id, **values)
