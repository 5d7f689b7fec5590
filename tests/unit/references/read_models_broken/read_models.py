"""A service's declared read models (a fixture: tests/deploy/test_read_models.py)."""

from shared.read_models import ReadModel, View


class AlertHeadline(View):
    number: str
    state: str


ALERTS = ReadModel("alerts", AlertHeadline)
