"""The committed AsyncAPI documents match the code (run `make docs` after changing a contract)."""

from __future__ import annotations

from pathlib import Path

import yaml

from ops.asyncapi import document_path, service_document
from ops.discovery import discover_routers

DOCS = Path(__file__).resolve().parents[2] / "docs" / "asyncapi"


def test_the_read_models_page_is_current() -> None:
    from ops import read_models_doc

    path = DOCS.parent / "read-models.md"
    assert path.exists() and path.read_text() == read_models_doc.document(), f"run `make docs`: {path}"


def test_every_service_has_a_current_asyncapi_document() -> None:
    routers = discover_routers()
    assert {"intake", "pledge-intake"} <= set(routers)
    for name, router in routers.items():
        path = document_path(name, DOCS)
        assert path.exists(), f"run `make docs`: {path} is missing"
        assert yaml.safe_load(path.read_text()) == yaml.safe_load(yaml.safe_dump(service_document(router))), (
            f"run `make docs`: {path} is out of date"
        )
