"""Certificate rendering: pixels against reference images, no font fallback, hostile names inert.

Reference images live in tests/unit/references/. After an intended design change, regenerate
them with `SAMLENG_UPDATE_REFERENCES=1 make test-unit` and look at them before committing.
"""

from __future__ import annotations

import io
import os
import shutil
from datetime import date
from pathlib import Path

import pypdfium2 as pdfium
import pytest
from PIL import Image, ImageChops

from services.certificates.render import TEMPLATE, CertificateContent, Renderer, RenderError

REFERENCES = Path(__file__).resolve().parent / "references"
CASES = {
    "latin-name-english": ("Sok Dara", "en"),
    "khmer-name-english": ("សុខ ចាន់ធី", "en"),
    "khmer-name-khmer": ("សុខ ចាន់ធី", "km"),
}


@pytest.fixture(scope="module")
def renderer() -> Renderer:
    return Renderer()


def content(name: str, language: str = "en") -> CertificateContent:
    return CertificateContent(
        name=name,
        language=language,  # type: ignore[arg-type]
        number="KCAP-2026-000125",
        signed_on=date(2026, 11, 22),
        verify_url="https://pledge.example.org/v/KCAP-2026-000125",
    )


def pdf_text(pdf: bytes) -> str:
    document = pdfium.PdfDocument(pdf)
    return "\n".join(document[i].get_textpage().get_text_range() for i in range(len(document)))


@pytest.mark.parametrize("case", sorted(CASES))
def test_certificate_matches_its_reference_image(renderer: Renderer, case: str) -> None:
    name, language = CASES[case]
    png = renderer.render(content(name, language)).png
    reference = REFERENCES / f"{case}.png"
    if os.environ.get("SAMLENG_UPDATE_REFERENCES") == "1":
        reference.write_bytes(png)
    actual = Image.open(io.BytesIO(png)).convert("L")
    expected = Image.open(reference).convert("L")
    assert actual.size == expected.size == (1286, 909)
    diff = ImageChops.difference(actual, expected)
    changed = diff.point(lambda value: 255 if value > 48 else 0).histogram()[255]
    assert changed / (actual.width * actual.height) < 0.002, f"{changed} pixels differ from {reference.name}"


def test_the_khmer_certificate_is_khmer_and_has_one_page(renderer: Renderer) -> None:
    rendered = renderer.render(content("សុខ ចាន់ធី", "km"))
    assert len(pdfium.PdfDocument(rendered.pdf)) == 1
    assert rendered.png.startswith(b"\x89PNG")


def test_an_unknown_font_family_is_an_error_not_a_silent_fallback(tmp_path: Path) -> None:
    broken = tmp_path / "certificate.typ"
    broken.write_text(
        TEMPLATE.read_text().replace(
            '"Noto Serif", "Noto Serif Khmer"', '"Noto Serif Nowhere", "Noto Serif Khmer"', 1
        )
    )
    with pytest.raises(RenderError, match="unknown font family"):
        Renderer(template=broken).render(content("Sok Dara"))


@pytest.mark.parametrize(
    "name",
    [
        '#read("canary.txt")',
        "<script>alert(1)</script><img src=http://169.254.169.254/>",
        '#import "canary.typ": *',
        "$ x^2 $ *bold* _it_ `raw` = Heading \\ #sys.inputs",
        "Dara\u202eevil\u200b\u200d",
        "្កា",
    ],
)
def test_hostile_names_are_printed_as_text_never_run(tmp_path: Path, name: str) -> None:
    template_dir = tmp_path / "template"
    shutil.copytree(TEMPLATE.parent, template_dir)
    (template_dir / "canary.txt").write_text("CANARY-SECRET")
    (template_dir / "canary.typ").write_text('#let leaked = "CANARY-SECRET"\nCANARY-SECRET')
    rendered = Renderer(template=template_dir / "certificate.typ").render(content(name))
    text = pdf_text(rendered.pdf)
    assert "CANARY-SECRET" not in text
    if name.isascii():
        assert name.split()[0] in text, "the name is printed literally"


def test_a_name_too_long_for_the_page_is_refused_clearly(renderer: Renderer) -> None:
    with pytest.raises(RenderError, match="1-120 characters"):
        renderer.render(content("x" * 10_000))


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_print_ready_variant_is_one_us_letter_portrait_page_with_the_same_content(
    renderer: Renderer, case: str
) -> None:
    name, language = CASES[case]
    pdf = renderer.render_print(content(name, language))
    document = pdfium.PdfDocument(pdf)
    assert len(document) == 1
    assert tuple(round(x) for x in document[0].get_size()) == (612, 792)  # 8.5 x 11 in
    text = pdf_text(pdf)
    assert "KCAP-2026-000125" in text and "https://pledge.example.org/v/KCAP-2026-000125" in text
