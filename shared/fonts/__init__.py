"""The fonts every Typst document of ours is set in (certificates, post address labels), shipped
with the code so output looks the same on every machine: readers load only `FONTS`, never system
fonts. Which file is which, and their licences: README.md here."""

from __future__ import annotations

from pathlib import Path

FONTS = Path(__file__).resolve().parent
