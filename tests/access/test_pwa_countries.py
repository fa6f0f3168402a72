"""The PWA's country list is the server's (forms/codes.json): a country offered is accepted."""

from __future__ import annotations

import json
import re

from api.settings import PROJECT_ROOT


def test_the_pwa_offers_exactly_the_countries_the_server_accepts() -> None:
    source = (PROJECT_ROOT / "pwa" / "js" / "countries.js").read_text(encoding="utf-8")
    match = re.search(r"export const COUNTRIES = \[(.*?)\];", source, re.DOTALL)
    assert match
    offered = re.findall(r'"([A-Z]{2})"', match.group(1))
    codes = json.loads((PROJECT_ROOT / "forms" / "codes.json").read_text(encoding="utf-8"))
    assert offered == codes["countries"]
