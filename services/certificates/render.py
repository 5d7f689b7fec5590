"""Rendering a certificate with Typst: PDF (email, print, post) and PNG (chat channels).

The template is static; the signer's data reaches it only as one JSON string in `sys.inputs`.
Only the fonts shipped in `shared/fonts/` are used (no system fonts), and any Typst warning — e.g. an
unknown font family, which would silently fall back — is an error.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

import segno
import typst
from babel.dates import format_date

from shared.fonts import FONTS

HERE = Path(__file__).resolve().parent
TEMPLATE = HERE / "template" / "certificate.typ"
PNG_PPI = 110
MAX_NAME_LENGTH = 120  # the same limit intake enforces; longer names cannot be laid out

TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "organisation": "KHMER COMMUNITY WORLDWIDE",
        "title": "Certificate of Commitment",
        "subtitle": "Khmer Community Advocacy Pledge",
        "certifies": "This certifies that",
        "pledge_before": "I, ",
        "pledge_after": ", pledge to the Khmer community worldwide to take the necessary steps and advocacy actions required to create a meaningful and effective change for Cambodia that we envision – a free and just society.",
        "date_label": "Signed on",
        "number_label": "Certificate no.",
        "verify_label": "Verify this certificate:",
    },
    "km": {
        "organisation": "សហគមន៍ខ្មែរទូទាំងពិភពលោក",
        "title": "វិញ្ញាបនបត្រនៃការប្តេជ្ញា",
        "subtitle": "ការសន្យាតស៊ូមតិរបស់សហគមន៍ខ្មែរ",
        "certifies": "វិញ្ញាបនបត្រនេះបញ្ជាក់ថា",
        "pledge_before": "ខ្ញុំ ",
        "pledge_after": " សូមសន្យាចំពោះសហគមន៍ខ្មែរទូទាំងពិភពលោក ថានឹងអនុវត្តជំហានចាំបាច់ និងសកម្មភាពតស៊ូមតិ ដើម្បីបង្កើតការផ្លាស់ប្តូរប្រកបដោយអត្ថន័យ និងប្រសិទ្ធភាពសម្រាប់កម្ពុជា ដែលយើងប្រាថ្នា – សង្គមមួយប្រកបដោយសេរីភាព និងយុត្តិធម៌។",
        "date_label": "ចុះហត្ថលេខានៅ",
        "number_label": "លេខវិញ្ញាបនបត្រ",
        "verify_label": "ផ្ទៀងផ្ទាត់វិញ្ញាបនបត្រនេះ៖",
    },
}


class RenderError(RuntimeError):
    """The certificate could not be rendered exactly as designed (error or warning from Typst)."""


@dataclass(frozen=True)
class CertificateContent:
    name: str
    language: Literal["en", "km"]
    number: str
    signed_on: date
    verify_url: str


@dataclass(frozen=True)
class Rendered:
    pdf: bytes
    png: bytes | None = None


def name_size(name: str) -> float:
    """Shrink long names so they stay on one or two lines."""
    length = len(name)
    if length <= 24:
        return 30.0
    if length <= 40:
        return 24.0
    if length <= 70:
        return 19.0
    return 15.0


def template_input(content: CertificateContent, *, print_ready: bool = False) -> str:
    matrix = segno.make(content.verify_url, error="m", boost_error=False).matrix
    return json.dumps(
        {
            "print": print_ready,
            "lang": content.language,
            "texts": TEXTS[content.language],
            "name": content.name,
            "name_size": name_size(content.name),
            "number": content.number,
            "date": format_date(content.signed_on, format="long", locale=content.language),
            "verify_url": content.verify_url,
            "qr": [[1 if cell else 0 for cell in row] for row in matrix],
        },
        ensure_ascii=False,
    )


class RendererPool:
    """Typst releases the GIL while compiling: one renderer per thread renders in parallel."""

    def __init__(self, size: int) -> None:
        import queue

        self.size = size
        self._idle: queue.SimpleQueue[Renderer] = queue.SimpleQueue()
        for _ in range(size):
            self._idle.put(Renderer())

    def render(self, content: CertificateContent, *, png: bool = True) -> Rendered:
        renderer = self._idle.get()
        try:
            return renderer.render(content, png=png)
        finally:
            self._idle.put(renderer)

    def render_print(self, content: CertificateContent) -> bytes:
        renderer = self._idle.get()
        try:
            return renderer.render_print(content)
        finally:
            self._idle.put(renderer)


class Renderer:
    """One compiler per renderer (Typst caches fonts and the parsed template); thread-safe."""

    def __init__(self, template: Path = TEMPLATE, fonts: Path = FONTS) -> None:
        font_set = typst.Fonts(
            include_system_fonts=False, include_embedded_fonts=False, font_paths=[str(fonts)]
        )
        self._compiler = typst.Compiler(
            str(template), root=str(template.parent), font_paths=font_set, ignore_system_fonts=True
        )
        self._lock = threading.Lock()

    def render(self, content: CertificateContent, *, png: bool = True) -> Rendered:
        """The A4 PDF, and the PNG unless `png=False` (no chosen channel carries images)."""
        if not content.name.strip() or len(content.name) > MAX_NAME_LENGTH:
            raise RenderError(f"name must be 1-{MAX_NAME_LENGTH} characters to fit the certificate")
        inputs = {"data": template_input(content)}
        with self._lock:
            pdf = self._compile("pdf", inputs)
            image = self._compile("png", inputs) if png else None
        return Rendered(pdf=pdf, png=image)

    def render_print(self, content: CertificateContent) -> bytes:
        """The print-ready PDF for print-and-mail letters: US Letter portrait (8.5 x 11 in)."""
        inputs = {"data": template_input(content, print_ready=True)}
        with self._lock:
            return self._compile("pdf", inputs)

    def _compile(self, fmt: Literal["pdf", "png"], inputs: dict[str, str]) -> bytes:
        try:
            result, warnings = self._compiler.compile_with_warnings(
                format=fmt, ppi=PNG_PPI if fmt == "png" else None, sys_inputs=inputs, timestamp=0
            )
        except typst.TypstError as error:
            raise RenderError(f"typst: {error.message}") from error
        if warnings:
            raise RenderError("typst warnings: " + "; ".join(w.message for w in warnings))
        if isinstance(result, list):  # PNG of a multi-page document: the design is one page
            raise RenderError(f"certificate has {len(result)} pages, expected 1")
        assert isinstance(result, bytes)
        return result
