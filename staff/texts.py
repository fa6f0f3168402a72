"""The staff UI's texts, Dutch first, English beside it (staff/locales/{nl,en}.json)."""

from __future__ import annotations

import json
from functools import cache
from importlib import resources

LANGUAGES = ("nl", "en")  # Dutch first (issue #13, §3)


@cache
def catalogue(language: str) -> dict[str, str]:
    text = resources.files("staff").joinpath("locales", f"{language}.json").read_text("utf-8")
    loaded: dict[str, str] = json.loads(text)
    return loaded


class Translator:
    """`t("key", name=...)`, in templates and handlers; a key missing in Dutch shows English."""

    def __init__(self, language: str) -> None:
        self.language = language if language in LANGUAGES else LANGUAGES[0]
        self._texts = catalogue(self.language)
        self._fallback = catalogue("en")

    def __call__(self, key: str, **params: object) -> str:
        text = self._texts.get(key) or self._fallback.get(key)
        if text is None:
            raise KeyError(f"no staff text {key!r}")
        return text.format(**params) if params else text

    def count(self, key: str, n: int, **params: object) -> str:
        """`key` with a number: `key.one` where the language has it and n is 1."""
        if n == 1 and self.has(f"{key}.one"):
            key = f"{key}.one"
        return self(key, n=n, **params)

    def has(self, key: str) -> bool:
        return key in self._texts or key in self._fallback


def english(key: str, **params: object) -> str:
    return Translator("en")(key, **params)
