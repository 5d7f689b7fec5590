"""Members on the web: looking one up by an exact email or phone, their page, and asking for
their erasure.

    GET  /members                 the lookup form                                  members.read_personal
    POST /members                 `email`, `phone`: who holds exactly that contact members.read_personal
    GET  /members/{id}            one member: channels, consents, subscriptions,   members.read_personal
                                  recent deliveries; export and erase buttons
    GET  /members/{id}/erase      the confirm step                                 members.erase
    POST /members/{id}/erase      hand the erasure over                            members.erase

There is no list of members to browse: a member is found by an exact contact (the blind index,
services/console/routes/members.py `lookup`, audited without the contact) or reached from one of
their replies. The lookup is a POST, so the contact is never in a URL (logs, browser history);
one member found answers 303 to their page, several a short list of links, none says so. The
export button is the operator API's JSON download (`GET /api/v1/operator/members/{id}/export`);
the erase button shows only to roles that may erase, and asks again before it acts.
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from services.console.auth import Caller, console_of, permit
from services.console.permissions import Permission
from services.console.routes.members import ContactToErase, erase, erasure_state, lookup, member_card
from services.console.web.channels import channel_names
from services.console.web.rendering import language_of, render
from services.console.web.words import word
from shared.web_security import CSRF_REQUIRED

router = APIRouter()

ERROR_WORDS = {
    "email_invalid": "members_email_invalid",
    "phone_invalid": "members_phone_invalid",
    "contact_required": "members_contact_required",
}


def form_value(value: object, limit: int) -> str:
    return value[:limit] if isinstance(value, str) else ""


@router.get("/members", dependencies=[permit(Permission.members_read_personal)])
async def lookup_form(request: Request, who: Caller) -> HTMLResponse:
    return render(request, "members/lookup.html", who=who, errors={}, email="", phone="", found=None)


@router.post(
    "/members", response_model=None, dependencies=[CSRF_REQUIRED, permit(Permission.members_read_personal)]
)
async def lookup_post(request: Request, who: Caller) -> HTMLResponse | RedirectResponse:
    form = await request.form()
    email, phone = form_value(form.get("email"), 1000), form_value(form.get("phone"), 100)
    cards, problems = await lookup(console_of(request), who, ContactToErase(email=email, phone=phone))
    if problems:
        lang = language_of(request)
        errors: dict[str, list[str]] = {}
        for problem in problems:
            key = ERROR_WORDS.get(problem["code"])
            errors.setdefault(problem["field"], []).append(word(key, lang) if key else problem["message"])
        return render(
            request,
            "members/lookup.html",
            who=who,
            status=422,
            errors=errors,
            email=email,
            phone=phone,
            found=None,
        )
    if len(cards) == 1:
        return RedirectResponse(f"/members/{cards[0].member_id}", status_code=303)
    return render(request, "members/lookup.html", who=who, errors={}, email=email, phone=phone, found=cards)


@router.get("/members/{member_id}", dependencies=[permit(Permission.members_read_personal)])
async def member_page(request: Request, who: Caller, member_id: str) -> HTMLResponse:
    found = await member_card(console_of(request), who, member_id)
    if found is None:
        raise HTTPException(404)
    done = request.query_params.get("done")
    return render(
        request,
        "members/member.html",
        who=who,
        channel_name=channel_names(request),
        member=found,
        done=done if done in ("requested", "already-erased") else None,
    )


@router.get("/members/{member_id}/erase", dependencies=[permit(Permission.members_erase)])
async def erase_confirm(request: Request, who: Caller, member_id: str) -> HTMLResponse:
    state = await erasure_state(console_of(request).db, member_id[:80])
    if state == "unknown":
        raise HTTPException(404)
    return render(request, "members/erase.html", who=who, member_id=member_id[:80], state=state)


@router.post("/members/{member_id}/erase", dependencies=[CSRF_REQUIRED, permit(Permission.members_erase)])
async def erase_post(request: Request, who: Caller, member_id: str) -> RedirectResponse:
    state, _, _ = await erase(request, who, member_id)
    if state == "unknown":
        raise HTTPException(404)
    return RedirectResponse(f"/members/{member_id[:80]}?done={state}", status_code=303)
