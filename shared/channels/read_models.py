"""What every channel reads of collections other services own (shared/read_models.py).

    collection   owner          why a channel reads it
    erasures     pledge-intake  a request for an erased member is dropped, not sent
                                (shared/channels/erasure.py; `_id` = the member's id)

GridFS buckets (certificate files, Plan of Action PDFs) are files read by id, not documents: a
request names the bucket and the file, and the runner opens it (shared/channels/runner.py).
"""

from __future__ import annotations

from shared.read_models import ReadModel, View


class Erasure(View):
    """Only that it exists (nothing personal in it)."""

    id: str
    """The erased member's id."""


ERASURES = ReadModel("erasures", Erasure)
