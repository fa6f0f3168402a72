"""The PWA's files, checked without a browser: what the service worker caches, CSP, locales."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

from api.settings import PROJECT_ROOT

PWA = PROJECT_ROOT / "pwa"


def _shell_list() -> list[str]:
    source = (PWA / "sw.js").read_text(encoding="utf-8")
    match = re.search(r"const SHELL = \[(.*?)\];", source, re.DOTALL)
    assert match, "sw.js has no `const SHELL = [...]`"
    return re.findall(r'"([^"]+)"', match.group(1))


def _locale(lang: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((PWA / "locales" / f"{lang}.json").read_text("utf-8"))
    return data


# The worker's own scripts: installed with the worker, not pre-cached as shell files.
WORKER_SCRIPTS = {"sw.js", "sw-module.js"}


def test_service_worker_precaches_every_shell_file_and_only_existing_ones() -> None:
    shell = _shell_list()
    on_disk = {
        "/" + p.relative_to(PWA).as_posix()
        for p in PWA.rglob("*")
        if p.is_file() and p.relative_to(PWA).as_posix() not in WORKER_SCRIPTS
    }
    assert set(shell) == on_disk, "update SHELL in pwa/sw.js (and bump VERSION)"


def test_locales_have_the_same_keys_and_cover_every_key_the_code_uses() -> None:
    en, nl = _locale("en"), _locale("nl")
    assert set(en) == set(nl)
    used: set[str] = set()
    for path in (PWA / "js").glob("*.js"):
        # Literal keys only; keys built from enum values are checked by the e2e tests.
        used |= set(re.findall(r'\bt(?:p|Parts)?\("([\w.]+)"', path.read_text("utf-8")))
    html = (PWA / "index.html").read_text("utf-8")
    used |= set(re.findall(r'data-i18n="([\w.]+)"', html))
    used |= set(re.findall(r'data-i18n-attr="[\w-]+:([\w.]+)"', html))
    plural = {k.rsplit(".", 1)[0] for k in en if k.endswith((".one", ".other"))}
    assert used - set(en) - plural == set()


def test_message_keys_in_lookup_tables_exist_in_both_languages() -> None:
    """Keys picked from tables (error codes -> messages) are not t("...") calls: check them."""
    en, nl = _locale("en"), _locale("nl")
    prefixes = {key.split(".")[0] for key in en}
    literals: set[str] = set()
    # The module worker picks its notification texts from the locale files too.
    for path in [*(PWA / "js").glob("*.js"), PWA / "sw-module.js"]:
        literals |= set(re.findall(r'"([a-z]+(?:\.[A-Za-z]+)+)"', path.read_text("utf-8")))
    keys = {literal for literal in literals if literal.split(".")[0] in prefixes}
    plural = {k.rsplit(".", 1)[0] for k in en if k.endswith((".one", ".other"))}
    assert keys - set(en) - plural == set()
    assert keys - set(nl) - plural == set()


class _InlineCode(HTMLParser):
    """Collects what a `script-src 'self'; style-src 'self'` policy would block."""

    def __init__(self) -> None:
        super().__init__()
        self.problems: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = {name for name, _ in attrs}
        if tag == "script" and "src" not in names:
            self.problems.append("inline <script>")
        if tag == "style":
            self.problems.append("<style> element")
        self.problems += [f"{name}= on <{tag}>" for name in names if name == "style"]
        self.problems += [f"{name}= on <{tag}>" for name in names if name.startswith("on")]


def test_index_html_has_nothing_the_content_security_policy_blocks() -> None:
    parser = _InlineCode()
    parser.feed((PWA / "index.html").read_text("utf-8"))
    assert parser.problems == []


def test_manifest_makes_the_app_installable() -> None:
    manifest = json.loads((PWA / "manifest.webmanifest").read_text("utf-8"))
    assert manifest["start_url"] == "/"
    assert manifest["display"] == "standalone"
    assert manifest["name"]
    assert manifest["short_name"]
    sizes = {icon["sizes"] for icon in manifest["icons"] if icon.get("purpose", "any") == "any"}
    assert {"192x192", "512x512"} <= sizes
    assert any(icon.get("purpose") == "maskable" for icon in manifest["icons"])
    for icon in manifest["icons"]:
        assert (PWA / icon["src"].lstrip("/")).is_file(), icon["src"]
