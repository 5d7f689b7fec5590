"""The dashboard, the signed-in home (dashboard.read).

    GET /dashboard?days=7|30   deliveries per channel with their failure rate (a warning, in
                               words, above 3%), pledges and certificates per day, the channels'
                               queues now and the other services' queues

The numbers are the operator API's (`GET /api/v1/operator/dashboard`, services/console/routes/
dashboard.py), drawn as tables that need no JavaScript; static/dashboard.js draws two charts with
the vendored uPlot from the same numbers, handed over in a data attribute (no inline script).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from services.console.auth import Caller, console_of, permit
from services.console.permissions import Permission
from services.console.routes.dashboard import Dashboard, Days, dashboard
from services.console.web.channels import channel_name, channel_names
from services.console.web.rendering import language_of, render, words_for
from services.console.web.words import word
from shared.contracts.languages import Lang

router = APIRouter()


def waited(seconds: float | None, lang: Lang) -> str | None:
    """A wait in words: `12 min`, `3 h 5 min`, `2 d 4 h`; None when nothing waits."""
    if seconds is None:
        return None
    minutes = int(seconds // 60)
    if minutes < 60:
        return word("dashboard_minutes", lang, minutes=minutes)
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return word("dashboard_hours", lang, hours=hours, minutes=minutes)
    days, hours = divmod(hours, 24)
    return word("dashboard_days", lang, days=days, hours=hours)


def charts(board: Dashboard, lang: Lang) -> dict[str, Any]:
    """What static/dashboard.js draws: the same numbers as the tables, and the words it shows."""
    return {
        "daily": {
            "dates": [day.date.isoformat() for day in board.daily],
            "pledges": [day.pledges for day in board.daily],
            "certificates": [day.certificates for day in board.daily],
        },
        "channels": {
            "names": [channel_name(row.channel, lang) for row in board.channels],
            "sent": [row.sent for row in board.channels],
            "failed": [row.failed for row in board.channels],
        },
        "words": words_for(
            lang, ["dashboard_pledges", "dashboard_certificates", "dashboard_sent", "dashboard_failed"]
        ),
    }


def period(asked: str | None) -> Days:
    """The period asked for; the week for anything else (a filter, not a form to correct)."""
    return Days.month if asked == str(Days.month.value) else Days.week


@router.get("/dashboard", dependencies=[permit(Permission.dashboard_read)])
async def show(request: Request, who: Caller) -> HTMLResponse:
    console = console_of(request)
    days = period(request.query_params.get("days"))
    board = await dashboard(console.settings, console.db, days)
    lang = language_of(request)
    queues = {row.channel: row for row in board.channel_queues}
    return render(
        request,
        "dashboard/dashboard.html",
        who=who,
        board=board,
        days=int(days),
        warned=[channel_name(row.channel, lang) for row in board.channels if row.warning],
        channel_name=channel_names(request),
        channel_queues=[
            (queues[row.channel], waited(queues[row.channel].oldest_waiting_seconds, lang))
            for row in board.channels
        ],
        service_queues=[queue for queue in board.queues if queue.channel is None],
        chart=charts(board, lang),
    )
