"""Alert subscriptions and members' own preferences on the public site.

    GET  /subscribe, POST                   the subscribe page (EN/KM): topics, channels in order,
                                            language, time zone, quiet hours
    POST /api/v1/subscriptions              the same as JSON (422 names each bad field)
    GET  /c/{token}, POST                   confirm a subscription (double opt-in; a button, so
                                            mail scanners that open links confirm nothing)
    GET  /p/{token}, POST                   a member's personal preferences page: alerts on/off,
                                            topics, channel order, language, time zone, quiet
                                            hours, stop one channel, resume after "stop all";
                                            it links to "download my data" and "erase everything
                                            about me" (erasure.py)

Intake stays a gateway: each form becomes one event (`subscription.requested.v1`,
`subscription.confirmed.v1`, `preferences.changed.v1`) that pledge-intake applies and records in
the consent history. `/p/` takes the member's personal page link (purpose `preferences`, expiring,
fresh in every message: shared/member_links.py, checked by erasure.py `member_by_token`); an
unsubscribe link, an old link with the raw secret, a forged or expired one get the same "this link
has expired" answer. `POST /p/{token}/links` ("end all my old links") hands pledge-intake
`member.links_reset_requested.v1`: a new secret, every old link ends. `/c/` the
random token of one pending subscription. Both are pledge-intake's, read through read_models.py
and opened with the site's vault (their personal fields are stored sealed); erased ones are
unknown. The rules of a subscription are shared with the operators' subscriber import (console):
shared/contracts/subscription_input.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment

from services.intake.erasure import member_by_token
from services.intake.i18n import pick_language, ui
from services.intake.limits import link_limit, submission_limit
from services.intake.read_models import (
    MEMBER_PREFERENCES,
    SUBSCRIPTIONS,
    MemberPreferences,
    SubscriptionToConfirm,
)
from services.intake.settings import IntakeSettings
from shared.channels.catalogue import spec
from shared.contracts import utcnow
from shared.contracts.alert import TOPICS
from shared.contracts.languages import Lang, countries
from shared.contracts.member import (
    LinksResetRequested,
    LinksResetRequestedData,
    PreferencesChanged,
    PreferencesChangedData,
    SubscriptionConfirmed,
    SubscriptionConfirmedData,
)
from shared.contracts.pledge import Consent, is_discreet
from shared.contracts.pledge_input import FieldError, refused_channels
from shared.contracts.session import TIME_ZONES
from shared.contracts.subscription_input import (
    SubscribeInput,
    alert_channels,
    clean_preferences,
    subscription_event,
    typed_alert_channels,
    validate_subscription,
)
from shared.contracts.subscription_input import _Problems as _Problems  # sessions.py's registrations
from shared.http_errors import NOT_JSON_TEXT, refusals
from shared.member_links import expiry_of, link_token, parse_link
from shared.messaging.gateway import Unavailable
from shared.read_models import opened
from shared.web_security import CSRF_REQUIRED

DISCREET_CHOICES: dict[str, bool | None] = {"auto": None, "on": True, "off": False}
"""The "Discreet messages" choice of a form (templates/_discreet.html): automatic is no choice of the
person's own (their country's default, shared/contracts/pledge.py `is_discreet`)."""

ROTATION_WAIT_SECONDS = 5.0
"""How long "end all my old links" waits for pledge-intake's new secret before answering without
a fresh link."""

TEXT: dict[str, dict[str, str]] = {
    "subscribe_title": {"en": "Urgent Action alerts", "km": "ការជូនដំណឹងសកម្មភាពបន្ទាន់"},
    "subscribe_intro": {
        "en": "When someone is arrested or at risk, we send an Urgent Action: who to write to and a "
        "letter you can send. Choose what you want to hear about and how.",
        "km": "នៅពេលមាននរណាម្នាក់ត្រូវបានចាប់ខ្លួន ឬស្ថិតក្នុងហានិភ័យ យើងផ្ញើសកម្មភាពបន្ទាន់៖ "
        "អ្នកណាដែលត្រូវសរសេរទៅ និងលិខិតដែលអ្នកអាចផ្ញើបាន។ ជ្រើសរើសអ្វីដែលអ្នកចង់ដឹង និងរបៀបទទួល។",
    },
    "preferences_title": {"en": "What you receive from us", "km": "អ្វីដែលអ្នកទទួលពីយើង"},
    "name": {"en": "Your name", "km": "ឈ្មោះរបស់អ្នក"},
    "country": {"en": "Country where you live", "km": "ប្រទេសដែលអ្នករស់នៅ"},
    "choose": {"en": "Choose…", "km": "ជ្រើសរើស…"},
    "email": {"en": "Email (we send a confirmation link)", "km": "អ៊ីមែល (យើងផ្ញើតំណបញ្ជាក់)"},
    "alerts": {"en": "Send me Urgent Action alerts", "km": "ផ្ញើការជូនដំណឹងសកម្មភាពបន្ទាន់មកខ្ញុំ"},
    "topics": {"en": "Topics (none chosen: all of them)", "km": "ប្រធានបទ (មិនជ្រើសរើស៖ ទាំងអស់)"},
    "topic_political-prisoners": {"en": "Political prisoners", "km": "អ្នកទោសនយោបាយ"},
    "topic_land-evictions": {"en": "Land evictions", "km": "ការបណ្តេញចេញពីដីធ្លី"},
    "topic_media-freedom": {"en": "Media freedom", "km": "សេរីភាពសារព័ត៌មាន"},
    "topic_elections": {"en": "Elections", "km": "ការបោះឆ្នោត"},
    "topic_human-rights-defenders": {"en": "Human rights defenders", "km": "អ្នកការពារសិទ្ធិមនុស្ស"},
    "channels": {"en": "How to reach you, in order", "km": "របៀបទាក់ទងអ្នក តាមលំដាប់"},
    "channel_rank_1": {"en": "First choice", "km": "ជម្រើសទីមួយ"},
    "channel_rank_2": {"en": "Second choice", "km": "ជម្រើសទីពីរ"},
    "channel_rank_3": {"en": "Third choice", "km": "ជម្រើសទីបី"},
    "none": {"en": "—", "km": "—"},
    "language": {"en": "Language", "km": "ភាសា"},
    "time_zone": {"en": "Your time zone", "km": "ល្វែងម៉ោងរបស់អ្នក"},
    "quiet_hours": {
        "en": "Quiet hours: no alerts between (leave empty for none; urgent alerts still come)",
        "km": "ម៉ោងស្ងាត់៖ គ្មានការជូនដំណឹងចន្លោះ (ទុកទទេប្រសិនបើគ្មាន ការជូនដំណឹងបន្ទាន់នៅតែមក)",
    },
    "quiet_and": {"en": "and", "km": "និង"},
    "stop_channel": {"en": "Send me nothing on {channel}", "km": "កុំផ្ញើអ្វីមកខ្ញុំតាម {channel}"},
    "stopped_all": {
        "en": "You asked us to stop all messages. Tick below to receive messages again.",
        "km": "អ្នកបានស្នើឱ្យយើងឈប់ផ្ញើសារទាំងអស់។ គូសខាងក្រោមដើម្បីទទួលសារម្តងទៀត។",
    },
    "resume_all": {"en": "Send me messages again", "km": "ផ្ញើសារមកខ្ញុំម្តងទៀត"},
    "stop_everything": {"en": "Stop everything from us", "km": "ឈប់ទទួលអ្វីៗទាំងអស់ពីយើង"},
    "download_data": {"en": "Download my data", "km": "ទាញយកទិន្នន័យរបស់ខ្ញុំ"},
    "erase_data": {"en": "Erase everything about me", "km": "លុបអ្វីៗទាំងអស់អំពីខ្ញុំ"},
    "consent": {
        "en": "I agree that Samleng keeps my contact details and choices to send me these messages, "
        "and I can change or stop them at any time.",
        "km": "ខ្ញុំយល់ព្រមឱ្យ សំឡេង រក្សាព័ត៌មានទំនាក់ទំនង និងជម្រើសរបស់ខ្ញុំ ដើម្បីផ្ញើសារទាំងនេះមកខ្ញុំ "
        "ហើយខ្ញុំអាចផ្លាស់ប្តូរ ឬបញ្ឈប់វាបានគ្រប់ពេល។",
    },
    "subscribe_button": {"en": "Subscribe", "km": "ចុះឈ្មោះ"},
    "save_button": {"en": "Save my choices", "km": "រក្សាទុកជម្រើសរបស់ខ្ញុំ"},
    "check_email": {
        "en": "Almost done: we sent you an email. Open the link in it to confirm.",
        "km": "ជិតរួចហើយ៖ យើងបានផ្ញើអ៊ីមែលមកអ្នក។ បើកតំណនៅក្នុងនោះដើម្បីបញ្ជាក់។",
    },
    "saved": {
        "en": "Saved. Your choices apply from the next message.",
        "km": "បានរក្សាទុក។ ជម្រើសរបស់អ្នកអនុវត្តចាប់ពីសារបន្ទាប់។",
    },
    "confirm_title": {"en": "Confirm your subscription", "km": "បញ្ជាក់ការចុះឈ្មោះរបស់អ្នក"},
    "confirm_ask": {
        "en": "Press the button to start receiving Urgent Action alerts.",
        "km": "ចុចប៊ូតុងដើម្បីចាប់ផ្តើមទទួលការជូនដំណឹងសកម្មភាពបន្ទាន់។",
    },
    "confirm_button": {"en": "Confirm", "km": "បញ្ជាក់"},
    "confirmed": {
        "en": "Thank you — you are subscribed. Every message has a link to change or stop it.",
        "km": "សូមអរគុណ — អ្នកបានចុះឈ្មោះហើយ។ សារនីមួយៗមានតំណដើម្បីផ្លាស់ប្តូរ ឬបញ្ឈប់។",
    },
    "link_unknown": {"en": "This link is not valid.", "km": "តំណនេះមិនត្រឹមត្រូវទេ។"},
    "link_expired": {
        "en": "This link has expired — the next message we send carries a new one.",
        "km": "តំណនេះបានផុតកំណត់ហើយ — សារបន្ទាប់ដែលយើងផ្ញើនឹងមានតំណថ្មី។",
    },
    "links_ended": {
        "en": "Done: all your old links have stopped working, this one too. The next message we "
        "send carries new ones.",
        "km": "រួចរាល់៖ តំណចាស់ៗទាំងអស់របស់អ្នកលែងដំណើរការហើយ រួមទាំងតំណនេះផងដែរ។ សារបន្ទាប់ដែលយើងផ្ញើនឹងមានតំណថ្មី។",
    },
    "end_links": {"en": "End all my old links", "km": "បញ្ចប់តំណចាស់ៗទាំងអស់របស់ខ្ញុំ"},
    "links_new": {
        "en": "Done: all your old links have stopped working. This is your new link to this page.",
        "km": "រួចរាល់៖ តំណចាស់ៗទាំងអស់របស់អ្នកលែងដំណើរការហើយ។ នេះជាតំណថ្មីរបស់អ្នកសម្រាប់ទំព័រនេះ។",
    },
    "end_links_help": {
        "en": "If someone else may have one of our messages to you (a forwarded email, a shared "
        "phone), this stops every link in them from working.",
        "km": "ប្រសិនបើមាននរណាម្នាក់ផ្សេងទៀតអាចមានសាររបស់យើងដែលផ្ញើទៅអ្នក (អ៊ីមែលដែលបានបញ្ជូនបន្ត "
        "ទូរស័ព្ទប្រើរួមគ្នា) ប៊ូតុងនេះធ្វើឱ្យតំណទាំងអស់នៅក្នុងសារទាំងនោះលែងដំណើរការ។",
    },
    "retry": {
        "en": "We could not record this right now. Please try again.",
        "km": "យើងមិនអាចកត់ត្រាបានទេឥឡូវនេះ។ សូមព្យាយាមម្តងទៀត។",
    },
    "errors_summary": {"en": "Please correct:", "km": "សូមកែតម្រូវ៖"},
}


def only_choice(channel: str) -> bool:
    """Whether a discreet member is offered "only this channel" (its declaration's
    `at_risk_only_choice`: end-to-end encrypted, messages can disappear; Signal's)."""
    return spec(channel).at_risk_only_choice


def form_input(form: Any) -> SubscribeInput:
    ranked = [form.get(f"channel_{rank}", "") for rank in (1, 2, 3)]
    return SubscribeInput(
        name=str(form.get("name", ""))[:10_000],
        country=str(form.get("country", ""))[:100],
        email=str(form.get("email", ""))[:1000] or None,
        phone=str(form.get("phone", ""))[:1000] or None,
        topics=[str(t)[:100] for t in form.getlist("topics")][:10],
        channels=[str(c)[:40] for c in ranked if c],
        language=str(form.get("language", "en"))[:10],
        time_zone=str(form.get("time_zone", "UTC"))[:100],
        quiet_start=str(form.get("quiet_start", ""))[:10],
        quiet_end=str(form.get("quiet_end", ""))[:10],
        discreet=DISCREET_CHOICES.get(str(form.get("discreet", "auto"))),
        consent=form.get("consent") == "yes",
    )


def add_subscription_routes(app: FastAPI, settings: IntakeSettings, templates: Environment) -> None:
    def db() -> Any:
        return app.state.status.database()

    def language_of(request: Request, lang: str | None) -> Lang:
        return pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )

    def t_for(language: Lang) -> Any:
        def t(key: str, **values: Any) -> str:
            text = TEXT[key][language] if key in TEXT else ui(key, language)
            return text.format(**values) if values else text

        return t

    def page(name: str, language: Lang, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(
            lang=language,
            other_lang="km" if language == "en" else "en",
            t=t_for(language),
            topics=TOPICS,
            time_zones=TIME_ZONES,
            countries=countries(language),
            **context,
        )
        return HTMLResponse(
            html, status_code=status, headers={"X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
        )

    async def hand_over(event: Any) -> bool:
        try:
            await app.state.gateway.publish(event)
        except Unavailable:
            return False
        return True

    def consent_now(language: Lang) -> Consent:
        return Consent(text_version=settings.consent_text_version, locale=language, accepted_at=utcnow())

    def errors_by_field(errors: list[FieldError]) -> dict[str, list[str]]:
        grouped: dict[str, list[str]] = {}
        for error in errors:
            grouped.setdefault(error.field, []).append(error.message)
        return grouped

    # ---- subscribe -----------------------------------------------------------------------

    @app.get("/subscribe", response_class=HTMLResponse, include_in_schema=False)
    async def subscribe_page(request: Request, lang: str | None = None) -> HTMLResponse:
        language = language_of(request, lang)
        first = list(typed_alert_channels()[:1])  # the first in form order is the first choice
        values = {"language": language, "time_zone": "Asia/Phnom_Penh", "channels": first}
        return page(
            "subscribe.html", language, values=values, errors={}, error_list=[], state="form",
            offered=typed_alert_channels(),
        )  # fmt: skip

    @app.post(
        "/subscribe",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[CSRF_REQUIRED, Depends(submission_limit)],
    )
    async def subscribe_form(request: Request, lang: str | None = None) -> HTMLResponse:
        language = language_of(request, lang)
        form = await request.form()
        raw = form_input(form)
        choices, errors = validate_subscription(raw, language)
        values = {**raw.model_dump(), "consent": "yes" if raw.consent else ""}
        if choices is None:
            return page(
                "subscribe.html", language, 422, values=values, errors=errors_by_field(errors),
                error_list=errors, state="form", offered=typed_alert_channels(),
            )  # fmt: skip
        if not await hand_over(subscription_event(raw, choices, "subscribe-page", consent_now(language))):
            return page(
                "subscribe.html", language, 503, values=values, errors={}, error_list=[], state="retry",
                offered=typed_alert_channels(),
            )  # fmt: skip
        chosen = {"channels": choices.preferences.channels}  # for "send us any message" (confirm_number.py)
        return page("subscribe.html", language, values=chosen, errors={}, error_list=[], state="sent")

    @app.post(
        "/api/v1/subscriptions",
        status_code=202,
        summary="Subscribe to Urgent Action alerts (confirmation by email)",
        responses={
            **refusals({400: NOT_JSON_TEXT}),
            422: {"description": "Invalid field(s)"},
            429: {"description": "Too many submissions from this address (Retry-After)"},
            503: {"description": "Retry later"},
        },
        dependencies=[Depends(submission_limit)],
    )
    async def api_subscribe(request: Request, body: SubscribeInput, lang: str | None = None) -> JSONResponse:
        language = pick_language(lang, None, request.headers.get("accept-language"))
        choices, errors = validate_subscription(body, language)
        if choices is None:
            return JSONResponse({"detail": [e.model_dump() for e in errors]}, status_code=422)
        event = subscription_event(body, choices, "api", consent_now(language))
        if not await hand_over(event):
            return JSONResponse(
                {"detail": "not handed over; retry"}, status_code=503, headers={"Retry-After": "30"}
            )
        return JSONResponse(
            {"subscription_id": event.data.subscription_id, "state": "pending"}, status_code=202
        )

    # ---- confirm ---------------------------------------------------------------------------

    async def subscription_of(token: str) -> SubscriptionToConfirm | None:
        if not 16 <= len(token) <= 64:
            return None
        found = await SUBSCRIPTIONS.find_one(db(), {"confirm_token": token})
        return await opened(await app.state.status.vault(), found)  # its request may be sealed

    @app.get("/c/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def confirm_page(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        doc = await subscription_of(token)
        asked = (doc.request or {}).get("preferences", {}).get("language") if doc is not None else None
        language = language_of(request, lang or asked)
        if doc is None:
            return page("confirm.html", language, 404, state="unknown", token=None)
        if doc.state == "confirmed":
            return page("confirm.html", language, state="confirmed", token=None)
        return page("confirm.html", language, state="ask", token=token)

    @app.post(
        "/c/{token}",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[CSRF_REQUIRED, Depends(link_limit)],
    )
    async def confirm(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        language = language_of(request, lang)
        doc = await subscription_of(token)
        if doc is None:
            return page("confirm.html", language, 404, state="unknown", token=None)
        event = SubscriptionConfirmed(
            correlation_id=doc.id, data=SubscriptionConfirmedData(subscription_id=doc.id, at=utcnow())
        )
        if not await hand_over(event):
            return page("confirm.html", language, 503, state="retry", token=token)
        return page("confirm.html", language, state="confirmed", token=None)

    # ---- a member's own preferences --------------------------------------------------------

    async def member_of(token: str) -> MemberPreferences | None:
        vault = await app.state.status.vault()
        return await member_by_token(db(), vault, token, MEMBER_PREFERENCES, "preferences")

    def expired(language: Lang) -> HTMLResponse:
        """A personal page link that does not open (expired, forged, an unsubscribe link, an old
        raw one, a random string): one answer, which says nothing about whether the person exists."""
        return page("confirm.html", language, 404, state="expired", token=None)

    def addresses_of(member: MemberPreferences) -> set[str]:
        held = {"email": member.email, "phone": member.phone, "psid": member.psid}
        return {kind for kind, address in held.items() if address}

    def offered_to(member: MemberPreferences) -> list[str]:
        """The alert channels the member has an address for (of their declared address kind)."""
        return [c for c in alert_channels() if spec(c).address_kind in addresses_of(member)]

    def member_values(member: MemberPreferences) -> dict[str, Any]:
        quiet = member.quiet_hours or {}
        return {
            "alerts": bool(member.alerts_opt_in),
            "topics": member.topics or [],
            "channels": [c for c in member.channels or [] if c in alert_channels()],
            "language": member.language or "en",
            "time_zone": member.time_zone or "UTC",
            "quiet_start": (quiet.get("start") or "")[:5],
            "quiet_end": (quiet.get("end") or "")[:5],
            "stopped": [c for c in member.unsubscribed or [] if c != "all"],
            "only": next((c for c in member.channels or [] if only_choice(c)), None)
            if len(member.channels or []) == 1
            else None,
        }

    def preferences_page(
        member: MemberPreferences, token: str, language: Lang, values: dict[str, Any], status: int = 200,
        errors: list[FieldError] | None = None, state: str = "form",
    ) -> HTMLResponse:  # fmt: skip
        offered = offered_to(member)
        secret = member.unsubscribe_token or ""
        chosen = values.get("discreet")  # on the page just saved; else what the member has now
        discreet = chosen if isinstance(chosen, bool) else is_discreet(member.discreet, member.country)
        return page(
            "preferences.html", language, status, values=values, offered=offered, token=token,
            unsubscribe_token=link_token(secret, member.id, "unsubscribe"),
            stopped_all="all" in (member.unsubscribed or []), errors=errors_by_field(errors or []),
            error_list=errors or [], state=state, discreet=discreet,
            discreet_by_default=discreet and chosen is None and member.discreet is None,
            only_offered=[c for c in offered if only_choice(c)] if discreet else [],
        )  # fmt: skip

    @app.get("/p/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def preferences(
        request: Request, token: str, lang: str | None = None, links: str | None = None
    ) -> HTMLResponse:
        member = await member_of(token)
        if member is None:
            return expired(language_of(request, lang))
        language = language_of(request, lang or member.language)
        state = "links-new" if links == "ended" else "form"  # just moved here by end_old_links
        return preferences_page(member, token, language, member_values(member), state=state)

    @app.post(
        "/p/{token}",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[CSRF_REQUIRED, Depends(link_limit)],
    )
    async def save_preferences(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        member = await member_of(token)
        language = language_of(request, lang or (member.language if member is not None else None))
        if member is None:
            return expired(language)
        form = await request.form()
        raw = form_input(form)
        offered = offered_to(member)
        stopped = [c for c in offered if form.get(f"stop_{c}") == "yes"]
        only = next((c for c in offered if only_choice(c) and form.get(f"{c}_only") == "yes"), None)
        if only:  # the safest for a discreet member: nothing by email or another app
            raw = raw.model_copy(update={"channels": [only]})
        values = {
            **raw.model_dump(),
            "alerts": form.get("alerts") == "yes",
            "stopped": stopped,
            "resume_all": form.get("resume_all") == "yes",
            "only": only,
        }
        errors = _Problems(language)
        discreet = is_discreet(raw.discreet if raw.discreet is not None else member.discreet, member.country)
        refused_channels(
            [c for c in raw.channels if c in offered], "alert", member.country or "", discreet, errors
        )
        prefs = clean_preferences(raw, errors, addresses_of(member))
        if prefs is None:
            return preferences_page(member, token, language, values, 422, errors.items)
        event = PreferencesChanged(
            correlation_id=member.id,
            data=PreferencesChangedData(
                member_id=member.id,
                alerts=values["alerts"],
                preferences=prefs,
                stopped_channels=stopped,
                resume_all=values["resume_all"],
                consent=consent_now(language),
                at=utcnow(),
            ),
        )
        if not await hand_over(event):
            return preferences_page(member, token, language, values, 503, state="retry")
        shown = member.model_copy(
            update={"unsubscribed": [] if values["resume_all"] else member.unsubscribed}
        )
        return preferences_page(shown, token, language, values, state="saved")

    @app.post(
        "/p/{token}/links",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[CSRF_REQUIRED, Depends(link_limit)],
    )
    async def end_old_links(request: Request, token: str, lang: str | None = None) -> Response:
        """ "End all my old links": pledge-intake replaces the member's secret, so every link made
        from it stops working, this one too. Once it has, the page moves to a fresh link (with the
        same expiry as the one used); if that takes longer than ROTATION_WAIT_SECONDS, the page
        says the next message carries new links."""
        member = await member_of(token)
        language = language_of(request, lang or (member.language if member is not None else None))
        link = parse_link(token)
        if member is None or link is None:
            return expired(language)
        event = LinksResetRequested(
            correlation_id=member.id, data=LinksResetRequestedData(member_id=member.id, at=utcnow())
        )
        if not await hand_over(event):
            return preferences_page(member, token, language, member_values(member), 503, state="retry")
        vault = await app.state.status.vault()
        deadline = asyncio.get_running_loop().time() + ROTATION_WAIT_SECONDS
        while asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            found = await opened(vault, await MEMBER_PREFERENCES.find_one(db(), {"_id": member.id}))
            secret = found.unsubscribe_token if found is not None else None
            if secret and secret != member.unsubscribe_token:
                fresh = link_token(secret, member.id, "preferences", expiry_of(link))
                return RedirectResponse(f"/p/{fresh}?lang={language}&links=ended", status_code=303)
        return page("confirm.html", language, state="links-ended", token=None)
