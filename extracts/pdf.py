"""The printable PDF of an extract (fpdf2 stays in this module); texts come from render."""

from __future__ import annotations

import io
import logging
import unicodedata
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from extracts.render import TEXT, fields, qr_code, verification_url

# DejaVu covers the Latin, Greek and Cyrillic names in DUO's records. Debian/Ubuntu ship it as
# fonts-dejavu-core; without it the PDF falls back to Helvetica and transliterates to Latin-1.
FONT_DIRS = (Path("/usr/share/fonts/truetype/dejavu"), Path("/usr/share/fonts/dejavu"))


def _font_files() -> tuple[Path, Path] | None:
    for directory in FONT_DIRS:
        regular, bold = directory / "DejaVuSans.ttf", directory / "DejaVuSans-Bold.ttf"
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


def _latin1(text: str) -> str:
    """Helvetica only has Latin-1: keep what fits, strip accents from the rest."""
    out = []
    # U+0131 (dotless i, as in Yilmaz) has no decomposition: map it by hand.
    for char in text.replace("\u0131", "i").replace("\u2014", "-").replace("\u00b7", "-"):
        if ord(char) < 256:
            out.append(char)
        else:
            base = unicodedata.normalize("NFKD", char).encode("latin-1", "ignore").decode("latin-1")
            out.append(base or "?")
    return "".join(out)


def render_pdf(
    payload: Mapping[str, Any], *, jws: str, kid: str, lang: str, public_origin: str
) -> bytes:
    """An A4 PDF; the same input gives the same bytes (fixed creation date)."""
    t, f = TEXT[lang], fields(payload, lang)
    # fpdf2 subsets the font with fontTools, which logs every table it prunes at INFO.
    logging.getLogger("fontTools").setLevel(logging.WARNING)
    pdf = FPDF(format="A4")
    fonts = _font_files()
    clean: Callable[[str], str]
    if fonts is not None:
        pdf.add_font("DejaVu", "", str(fonts[0]))
        pdf.add_font("DejaVu", "B", str(fonts[1]))
        family, clean = "DejaVu", str
    else:
        family, clean = "Helvetica", _latin1
    issued = payload.get("iat")
    pdf.set_creation_date(
        datetime.fromtimestamp(issued, UTC)
        if isinstance(issued, int)
        else datetime(2026, 1, 1, tzinfo=UTC)
    )
    pdf.set_title(clean(f"{t['title']} {f['name']}"))
    pdf.set_author("DUO")
    pdf.set_lang(lang)
    pdf.set_margins(18, 18, 18)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    width = pdf.epw

    def line(text: str, size: float, *, bold: bool = False, height: float = 6) -> None:
        pdf.set_font(family, "B" if bold else "", size)
        pdf.multi_cell(width, height, clean(text), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def heading(text: str) -> None:
        pdf.ln(3)
        line(text, 12, bold=True, height=7)
        pdf.line(pdf.l_margin, pdf.get_y(), pdf.l_margin + width, pdf.get_y())
        pdf.ln(1)

    def pair(label: str, value: str) -> None:
        pdf.set_font(family, "", 10)
        pdf.cell(48, 6, clean(label))
        pdf.multi_cell(width - 48, 6, clean(value), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line(t["issuer"], 10, bold=True)
    line(t["title"], 20, bold=True, height=10)
    line(t["lead"], 10)
    heading(t["holder"])
    pair(t["name"], f["name"])
    pair(t["dob"], f["dob"])
    heading(t["diploma"])
    for key in ("institution", "programme", "code", "level", "awarded"):
        pair(t[key], str(f[key]))
    heading(t["results"])
    has_credits = any(r.get("credits") is not None for r in f["results"])
    pdf.set_font(family, "", 10)
    widths = (100, 30, 44) if has_credits else (130, 44)
    with pdf.table(col_widths=widths, text_align="LEFT", first_row_as_headings=True) as table:
        head = [t["subject"], t["grade"]] + ([t["credits"]] if has_credits else [])
        table.row([clean(h) for h in head])
        for result in f["results"]:
            cells = [str(result.get("subject", "")), str(result.get("grade", ""))]
            if has_credits:
                cells.append(str(result.get("credits") or ""))
            table.row([clean(c) for c in cells])
    heading(t["verify"])
    top = pdf.get_y()
    png = io.BytesIO()
    qr_code(public_origin, f["id"]).save(png, kind="png", scale=8, border=4)
    png.seek(0)
    if top + 62 > pdf.h - pdf.b_margin:
        pdf.add_page()
        top = pdf.get_y()
    pdf.image(png, x=pdf.l_margin, y=top, w=60, h=60)
    pdf.set_xy(pdf.l_margin + 66, top)
    pdf.set_font(family, "", 9)
    details = [
        t["verify_how"].format(page=verification_url(public_origin, f["id"])),
        "",
        f"{t['id']}: {f['id']}",
        f"{t['issued']}: {f['issued']}",
        f"{t['valid_until']}: {f['valid_until']}",
        f"{t['key']}: {kid}",
    ]
    pdf.multi_cell(
        width - 66, 5, clean("\n".join(details)), align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT
    )
    return bytes(pdf.output())
