"""The public pledge site and JSON API (the `intake` HTTP service; stateless gateway).

    GET  /                        the pledge form (English; ?lang=km for Khmer), works without JS
    POST /                        form submission -> 303 to /pledge/{id}, or the form with errors
    GET  /pledge/{id}             confirmation and status page (never says whether a contact was known)
    GET  /m/confirm/{token}, POST a member confirms that a pledge or subscription made with a contact
                                  they hold was theirs (a button: mail scanners confirm nothing)
    POST /api/v1/pledges          JSON API for other web forms -> 202 {pledge_id, status_url};
                                  partners send X-Samleng-Key (services/intake/partners.py)
    GET  /api/v1/pledges/{id}     state: received / recorded / rejected (with reason), nothing more
    GET  /docs                    OpenAPI

Intake serves the public only: every operator route is the console's (services/console,
docs/operators.md); tests/unit/test_intake_routes.py pins the whole list.

Every response carries the security headers and every HTML form POST needs its CSRF token
(services/intake/web_security.py).

Intake owns no collection of anyone else's (only its key vault, `partner_key_usage` and the spent
links of discreet messages, `spent_details`: details.py). It
publishes `pledge.submitted.v1` and answers status questions from pledge-intake's `pledges`; a
confirmation link is looked up in pledge-intake's `pending_changes` (token and state only);
partner keys are read from the console's `partner_keys` (their `last_used_at` noted in
`partner_key_usage`). Every read of another service's collection goes through read_models.py.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from itsdangerous import BadSignature, URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader, select_autoescape
from pydantic import BaseModel, Field, ValidationError

from services.intake.alerts import add_alert_routes
from services.intake.certificates import add_certificate_routes
from services.intake.confirm_number import chat_channels, number_steps
from services.intake.deliveries import add_delivery_routes
from services.intake.details import details_router
from services.intake.erasure import add_erasure_routes
from services.intake.i18n import channel_choice, pick_language, ui
from services.intake.limits import IntakeLimits, TooManySubmissions, link_limit, submission_limit
from services.intake.partners import install_partner_keys, partner_key
from services.intake.read_models import PENDING_CHANGES, PartnerKeyCheck, PendingChange
from services.intake.sessions import add_session_routes
from services.intake.settings import IntakeSettings
from services.intake.submission import PledgeStatus, StatusReader, SubmissionGateway
from services.intake.subscriptions import DISCREET_CHOICES, add_subscription_routes
from shared.channels.catalogue import carrying, spec
from shared.contracts import pledge_ids as ids
from shared.contracts import utcnow
from shared.contracts.alert import ActionReported
from shared.contracts.erasure import ErasureRequested
from shared.contracts.languages import Lang, countries, message
from shared.contracts.member import (
    ConsentWithdrawn,
    LinksResetRequested,
    MemberChangeConfirmed,
    MemberChangeConfirmedData,
    PreferencesChanged,
    SubscriptionConfirmed,
    SubscriptionRequested,
)
from shared.contracts.pledge import PledgeSubmitted
from shared.contracts.pledge_input import AddressInput, FieldError, PledgeInput, validate_pledge
from shared.contracts.session import (
    RegistrationCancelled,
    RegistrationSubmitted,
)
from shared.health import health_routes
from shared.http_errors import ValidationProblem, install_field_problems
from shared.http_limits import BodyLimit, route_limits
from shared.http_telemetry import install_http_telemetry
from shared.messaging.gateway import Unavailable
from shared.observability import get_logger
from shared.service import Router
from shared.web_security import COOKIE as CSRF_COOKIE
from shared.web_security import CSRF_REQUIRED, Csrf, CsrfCookie, CsrfRefused, SecurityHeaders
from shared.web_security import FIELD as CSRF_FIELD

HERE = Path(__file__).resolve().parent
MESSENGER_PAGE_COOKIE = "samleng_pledge"
MESSENGER_PAGE_SECONDS = 24 * 3600
"""How long after signing the pledge page still shows its m.me link in the browser that signed."""
log = get_logger("samleng.intake")

router = Router(
    "intake",
    description="Public site and JSON API (pledges, alert pages, subscriptions, preferences, sessions); "
    "hands each valid request over as one event.",
)
router.publishing(
    PledgeSubmitted,
    ActionReported,
    ConsentWithdrawn,
    SubscriptionRequested,
    SubscriptionConfirmed,
    PreferencesChanged,
    LinksResetRequested,
    MemberChangeConfirmed,
    RegistrationSubmitted,
    RegistrationCancelled,
    ErasureRequested,
)


class Accepted(BaseModel):
    pledge_id: str = Field(examples=["pl_3q9f2k7m1xv8d0c4a6b2e5h7abcdefghijklmn"])
    status_url: str


def create_app(
    settings: IntakeSettings,
    gateway: SubmissionGateway | None = None,
    status_reader: StatusReader | None = None,
) -> FastAPI:
    secret = settings.secret_key.get_secret_value().encode()
    csrf = Csrf(secret, secure_cookie=settings.public_base_url.startswith("https"))
    # m.me references expire (MESSENGER_REF_MAX_AGE_DAYS) and link once: the messenger channel checks both
    messenger_refs = URLSafeTimedSerializer(secret, salt="messenger-ref")
    # ... and the pledge page shows the m.me link only in the browser that submitted the pledge: a
    # signed cookie for that page's path, set on the form's redirect. Anyone else with the page's
    # address (a shared or leaked link) gets no reference to link their own Messenger account with.
    messenger_page_key = URLSafeTimedSerializer(secret, salt="messenger-page")
    secure_cookies = settings.public_base_url.startswith("https")
    templates = Environment(
        loader=PackageLoader("services.intake", "templates"), autoescape=select_autoescape(default=True)
    )
    templates.globals["csrf_field"] = csrf.field
    templates.globals["number_steps"] = partial(number_steps, settings)  # confirm_number.py

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = gateway is None
        app.state.gateway = gateway or SubmissionGateway(settings)
        app.state.status = status_reader or StatusReader(settings)
        if owned:
            await app.state.status.start()
            await app.state.gateway.start(app.state.status.vault)
        yield
        if owned:
            await app.state.gateway.stop()
            await app.state.status.stop()

    app = FastAPI(
        title="Samleng intake",
        description="Public pledge form and JSON API of the Khmer Community Advocacy Pledge.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.csrf = csrf
    app.state.limits = limits = IntakeLimits(settings, lambda: app.state.status.database())  # limits.py
    app.add_middleware(BodyLimit, limit=route_limits(lambda: app.routes, settings.max_body_bytes))
    app.add_middleware(CsrfCookie, csrf=csrf)
    app.add_middleware(SecurityHeaders, hsts=settings.hsts)

    def refused_page(request: Request, status: int, title: str, text: str, **headers: str) -> HTMLResponse:
        language = pick_language(
            request.query_params.get("lang"),
            request.cookies.get("samleng_lang"),
            request.headers.get("accept-language"),
        )
        html = templates.get_template("refused.html").render(
            lang=language,
            t=lambda key, **kw: ui(key, language, **kw),
            other_lang="km" if language == "en" else "en",
            title=title,
            text=text,
        )
        return HTMLResponse(html, status_code=status, headers=headers)

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, _: CsrfRefused) -> HTMLResponse:
        return refused_page(request, 403, "csrf_refused_title", "csrf_refused")

    @app.exception_handler(TooManySubmissions)
    async def too_many(request: Request, busy: TooManySubmissions) -> Response:
        wait = str(busy.retry_after)
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {"detail": "too many submissions; retry later"},
                status_code=429,
                headers={"Retry-After": wait},
            )
        return refused_page(request, 429, "csrf_refused_title", "busy", **{"Retry-After": wait})

    install_http_telemetry(app, "intake")
    install_partner_keys(app, lambda: app.state.status.database(), settings.partner_key_cache_seconds)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    async def readiness() -> dict[str, bool]:
        return {"broker": app.state.gateway.ready, "mongodb": await app.state.status.ping()}

    for route in health_routes("intake", readiness):
        app.router.routes.append(route)

    def offers_opt_in() -> bool:
        """Channels whose address the platform gives when the person opts in (address kind
        `psid`: Messenger's m.me link after signing) are offered only with our page set."""
        return bool(settings.messenger_page)

    def opting_in(channels: list[str]) -> list[str]:
        """The chosen channels that wait for the person to open our opt-in link."""
        return [name for name in channels if spec(name).address_kind == "psid"]

    def form_channels(lang: Lang) -> list[dict[str, str]]:
        """The pledge form's choices: the channels that carry certificates, in catalogue order,
        with what the page's script needs (countries refused, discreet, fields asked)."""
        return [
            {
                "name": name,
                "label": channel_choice(name, lang),
                "unavailable": " ".join(sorted(spec(name).unavailable_countries)),
                "discreet": "yes" if spec(name).carries_discreet else "no",
                "fields": " ".join(spec(name).person_fields),
            }
            for name in carrying("certificate")
            if offers_opt_in() or spec(name).address_kind != "psid"
        ]

    def opt_in_refused(channels: list[str], lang: Lang) -> FieldError | None:
        """A `channels` error when an opt-in channel was chosen while none is offered."""
        refused = [] if offers_opt_in() else opting_in(channels)
        if not refused:
            return None
        return FieldError(
            field="channels",
            code="channel_unknown",
            message=message("channel_unknown", lang, channel=refused[0]),
        )

    def status_url(pledge_id: str) -> str:
        return f"{settings.public_base_url.rstrip('/')}/api/v1/pledges/{pledge_id}"

    def messenger_link(pledge_id: str) -> str:
        return f"https://m.me/{settings.messenger_page}?ref={messenger_refs.dumps(pledge_id)}"

    # ---- HTML form -------------------------------------------------------------------------

    def render_form(
        request: Request,
        lang: Lang,
        values: dict[str, Any],
        errors: list[FieldError],
        status: int = 200,
        notice: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> HTMLResponse:
        by_field: dict[str, list[str]] = defaultdict(list)
        for error in errors:
            by_field[error.field].append(error.message)
        html = templates.get_template("form.html").render(
            lang=lang,
            t=lambda key, **kw: ui(key, lang, **kw),
            countries=countries(lang),
            values=values,
            errors=dict(by_field),
            error_list=errors,
            notice=notice,
            other_lang="km" if lang == "en" else "en",
            channels=form_channels(lang),
        )
        response = HTMLResponse(html, status_code=status, headers=headers)
        response.set_cookie("samleng_lang", lang, samesite="lax")
        return response

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def form(request: Request, lang: str | None = None) -> HTMLResponse:
        language = pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )
        return render_form(request, language, {"certificate_language": language, "channels": []}, [])

    @app.post("/", response_class=HTMLResponse, include_in_schema=False)
    async def submit_form(request: Request) -> Response:
        form_data = await request.form()
        lang = pick_language(str(form_data.get("lang") or ""), request.cookies.get("samleng_lang"), None)
        values: dict[str, Any] = {k: str(v) for k, v in form_data.items() if isinstance(v, str)}
        values["channels"] = [str(c) for c in form_data.getlist("channels")]
        if not csrf.valid(request.cookies.get(CSRF_COOKIE), values.get(CSRF_FIELD)):
            return render_form(request, lang, values, [], 403, notice=ui("csrf", lang))
        if values.get("website"):
            return render_form(
                request,
                lang,
                values,
                [FieldError(field="website", code="honeypot", message=message("honeypot", lang))],
                400,
            )
        wait = await limits.retry_after(request, limits.submissions)
        if wait:
            return render_form(
                request,
                lang,
                values,
                [],
                429,
                notice=ui("rate_limited", lang),
                headers={"Retry-After": str(wait)},
            )
        raw = _form_to_input(values)
        valid, errors = validate_pledge(raw, lang)
        if valid is not None and (refused := opt_in_refused(valid.channels, lang)) is not None:
            valid, errors = None, [refused]
        if valid is None:
            return render_form(request, lang, values, errors, 422)
        pledge_id = ids.new_pledge_id(secret)
        try:
            await app.state.gateway.submit(pledge_id, valid, "web", lang, settings.consent_text_version)
        except Unavailable:
            return render_form(
                request, lang, values, [], 503, notice=ui("unavailable", lang), headers={"Retry-After": "30"}
            )
        suffix = "&m=1" if opting_in(valid.channels) else ""
        suffix += "".join(f"&chat={channel}" for channel in chat_channels(valid.channels))
        redirect = RedirectResponse(f"/pledge/{pledge_id}?lang={lang}{suffix}", status_code=303)
        if opting_in(valid.channels):
            redirect.set_cookie(
                MESSENGER_PAGE_COOKIE,
                messenger_page_key.dumps(pledge_id),
                max_age=MESSENGER_PAGE_SECONDS,
                path=f"/pledge/{pledge_id}",
                secure=secure_cookies,
                httponly=True,
                samesite="lax",
            )
        return redirect

    def submitted_here(request: Request, pledge_id: str) -> bool:
        """This browser submitted `pledge_id` (its page cookie; see `messenger_page_key`)."""
        cookie = request.cookies.get(MESSENGER_PAGE_COOKIE)
        if not cookie:
            return False
        try:
            return bool(messenger_page_key.loads(cookie, max_age=MESSENGER_PAGE_SECONDS) == pledge_id)
        except BadSignature:  # forged, or older than a day
            return False

    @app.get("/pledge/{pledge_id}", response_class=HTMLResponse, include_in_schema=False)
    async def pledge_page(
        request: Request,
        pledge_id: str,
        lang: str | None = None,
        m: int = 0,
        chat: Annotated[list[str] | None, Query()] = None,
    ) -> HTMLResponse:
        """`m=1` and `chat=signal` (our redirect says what was chosen, the page knows only the
        pledge id): the Messenger step and the box "send any message to our number"."""
        language = pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )
        status = await _status(pledge_id)
        shown = status is not None and status.state != "rejected"
        chats = chat_channels((chat or [])[:5]) if shown else []
        kept = urlencode([("m", "1")] * bool(m) + [("chat", channel) for channel in chats])
        html = templates.get_template("pledge.html").render(
            lang=language,
            t=lambda key, **kw: ui(key, language, **kw),
            status=status,
            messenger=messenger_link(pledge_id)
            if (m and offers_opt_in() and status is not None and submitted_here(request, pledge_id))
            else None,
            messenger_elsewhere=bool(m and offers_opt_in() and status is not None)
            and not submitted_here(request, pledge_id),
            other_lang="km" if language == "en" else "en",
            pledge_id=pledge_id,
            chats=chats,
            keep_query=f"&{kept}" if kept else "",
        )
        return HTMLResponse(html, status_code=200 if status else 404)

    # ---- a member confirms a change made with a contact they hold --------------------------

    async def pending_change(token: str) -> PendingChange | None:
        if not 20 <= len(token) <= 64:
            return None
        reader: StatusReader = app.state.status
        return await PENDING_CHANGES.find_one(reader.database(), {"token": token, "state": "pending"})

    def change_page(language: Lang, state: str, token: str | None, status: int = 200) -> HTMLResponse:
        html = templates.get_template("change.html").render(
            lang=language,
            t=lambda key, **kw: ui(key, language, **kw),
            other_lang="km" if language == "en" else "en",
            state=state,
            token=token,
        )
        headers = {"X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer"}
        return HTMLResponse(html, status_code=status, headers=headers)

    @app.get("/m/confirm/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def change_confirm_page(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        language = pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )
        if await pending_change(token) is None:  # unknown and already used look the same
            return change_page(language, "unknown", None)
        return change_page(language, "ask", token)

    @app.post(
        "/m/confirm/{token}",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[CSRF_REQUIRED, Depends(link_limit)],
    )
    async def change_confirm(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        language = pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )
        change = await pending_change(token)
        if change is not None:
            event = MemberChangeConfirmed(
                correlation_id=change.id,
                data=MemberChangeConfirmedData(change_id=change.id, at=utcnow()),
            )
            try:
                await app.state.gateway.publish(event)
            except Unavailable:
                return change_page(language, "retry", token, 503)
        return change_page(language, "done", None)

    # ---- JSON API --------------------------------------------------------------------------

    @app.post(
        "/api/v1/pledges",
        status_code=202,
        response_model=Accepted,
        responses={
            401: {"description": "Unknown or revoked partner key (X-Samleng-Key)"},
            403: {"description": "The partner key does not allow the request's Origin"},
            422: {"model": ValidationProblem},
            429: {"description": "Too many submissions (from this address, or with this partner key)"},
            503: {"description": "Broker unavailable; retry after Retry-After seconds"},
        },
        summary="Submit a pledge",
        openapi_extra=json_body_documented(PledgeInput),
    )
    async def api_submit(
        request: Request,
        partner: Annotated[PartnerKeyCheck | None, Depends(partner_key)],
        idempotency_key: Annotated[
            str | None,
            Header(
                max_length=200,
                description="Same key and same body = same pledge, never a second one (per partner "
                "key, if any; without one, the key names a pledge only together with its content).",
            ),
        ] = None,
        lang: str | None = None,
    ) -> Response:
        language = pick_language(lang, None, request.headers.get("accept-language"))
        try:
            raw = PledgeInput.model_validate_json(await request.body())
        except ValidationError as invalid:
            return JSONResponse(
                {"detail": [e.model_dump() for e in _schema_errors(invalid, language)]}, status_code=422
            )
        if partner is None:  # a partner key's own limit was applied in partner_key
            await submission_limit(request)
        valid, errors = validate_pledge(raw, language)
        if valid is None:
            return JSONResponse({"detail": [e.model_dump() for e in errors]}, status_code=422)
        refused = opt_in_refused(valid.channels, language)
        if refused is not None:
            return JSONResponse({"detail": [refused.model_dump()]}, status_code=422)
        pledge_id = (
            ids.derived_pledge_id(secret, *idempotency_scope(partner, idempotency_key, raw))
            if idempotency_key
            else ids.new_pledge_id(secret)
        )
        try:
            await app.state.gateway.submit(pledge_id, valid, "api", language, settings.consent_text_version)
        except Unavailable:
            return JSONResponse(
                {"detail": "the pledge could not be handed over; nothing was stored; retry"},
                status_code=503,
                headers={"Retry-After": "30"},
            )
        body: dict[str, Any] = {"pledge_id": pledge_id, "status_url": status_url(pledge_id)}
        if opting_in(valid.channels):  # the API's field keeps its name: Messenger's is the m.me link
            body["messenger_link"] = messenger_link(pledge_id)
        return JSONResponse(body, status_code=202, headers={"Location": status_url(pledge_id)})

    @app.get(
        "/api/v1/pledges/{pledge_id}",
        response_model=PledgeStatus,
        responses={404: {"description": "Unknown pledge"}},
        summary="State of a pledge",
    )
    async def api_status(pledge_id: str) -> PledgeStatus:
        status = await _status(pledge_id)
        if status is None:
            raise HTTPException(status_code=404, detail="unknown pledge")
        return status

    async def _status(pledge_id: str) -> PledgeStatus | None:
        """An id intake issued is "received" until pledge-intake stores it; any other id (a paper
        sign-up row the console imported, whose id the console derived) is known once stored."""
        if not ids.is_well_formed(pledge_id):
            return None
        reader: StatusReader = app.state.status
        if ids.is_valid_pledge_id(secret, pledge_id):
            return await reader.status(pledge_id)
        status = await reader.status(pledge_id)
        return None if status.state == "received" else status

    add_certificate_routes(app, settings, templates)
    add_delivery_routes(app, settings, templates)
    add_alert_routes(app, settings, templates)
    add_subscription_routes(app, settings, templates)
    add_erasure_routes(app, settings, templates)
    add_session_routes(app, settings, templates, secret)
    app.include_router(details_router(templates))  # discreet messages' links, /d/ (details.py)
    document_schemas(app, PledgeInput)
    install_field_problems(app)
    return app


def json_body_documented(model: type[BaseModel]) -> dict[str, Any]:
    """The request body of a route that reads its raw body (to answer with its own errors), for
    its OpenAPI document: partners see its shape, the fuzzer sends it (`document_schemas`)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def document_schemas(app: FastAPI, *models: type[BaseModel]) -> None:
    """Add `models` (and the models they use) to the app's OpenAPI components."""
    default = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = default()
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def idempotency_scope(partner: PartnerKeyCheck | None, key: str, raw: PledgeInput) -> tuple[str, str]:
    """What an Idempotency-Key names. A partner's keys are its own. Without a partner key, anyone
    may send any key, so the key names the same pledge only with the same content: a retry gets
    its pledge id back, while someone reusing another person's key (seen in a shared form's page
    source, say) gets a pledge of their own and learns nothing about the other one."""
    if partner is not None:
        return f"partner:{partner.id}", key
    content = hashlib.sha256(raw.model_dump_json().encode()).hexdigest()
    return "api", f"{key}\x1f{content}"


def _form_to_input(values: dict[str, Any]) -> PledgeInput:
    address_fields = ("street_address", "city", "city_area", "country_area", "postal_code", "sorting_code")
    address = {f: values.get(f, "")[:1000] for f in address_fields}
    return PledgeInput(
        name=values.get("name", "")[:10_000],
        country=values.get("country", "")[:100],
        certificate_language=values.get("certificate_language", "en")[:10],
        channels=values.get("channels", [])[:10],
        email=values.get("email", "")[:1000] or None,
        phone=values.get("phone", "")[:1000] or None,
        postal_address=AddressInput(**address) if any(address.values()) else None,
        show_name_publicly=values.get("show_name_publicly") == "yes",
        alerts_opt_in=values.get("alerts_opt_in") == "yes",
        sessions_opt_in=values.get("sessions_opt_in") == "yes",
        discreet=DISCREET_CHOICES.get(values.get("discreet", "auto")),
        consent=values.get("consent") == "yes",
    )


def _schema_errors(invalid: ValidationError, lang: Lang) -> list[FieldError]:
    errors = []
    for error in invalid.errors(include_input=False, include_url=False):
        field = ".".join(str(p) for p in error["loc"]) or "body"
        if error["type"] == "string_too_long":
            text = message("too_long", lang, max=error.get("ctx", {}).get("max_length", "?"))
            errors.append(FieldError(field=field, code="too_long", message=text))
        else:
            errors.append(
                FieldError(
                    field=field,
                    code=error["type"],
                    message=f"{message('invalid_value', lang)} ({error['msg']})",
                )
            )
    return errors
