"""Server-rendered sign-in and OAuth authorization pages, and the e-mail confirmation page.

Flow of ``GET /oauth/authorize``: check the client and redirect URI (errors there are
shown, never redirected: the URI is not trusted yet); check the rest (errors go back to
the client as ``?error=``); not signed in (or ``force_login``) → the sign-in form, which
returns here; signed in → the consent page. Its POST makes a code and redirects to the
client with ``?code=&state=``, or shows the code for the out-of-band redirect URI.

A right password for a login that must still confirm a contact opens the confirmation
page instead of a session (``/auth/confirmation/...``, at the end of this module).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from lumigram.accounts import oauth, service, verification
from lumigram.accounts.models import Account, App, User
from lumigram.accounts.ratelimits import hit_login_limits, hit_login_limits_for
from lumigram.api.auth import client_address
from lumigram.api.deps import ServicesDep
from lumigram.errors import Forbidden, NotFound, RateLimited, ValidationFailed
from lumigram.services import Services
from lumigram.web import TEMPLATES_DIR
from lumigram.web.confirm_tickets import TICKET_LIFETIME, TicketSigner
from lumigram.web.session import (
    Session,
    SessionSigner,
    csrf_ok,
    new_session,
    read_session,
    signed_in,
    signed_out,
    write_session,
)
from lumigram.web.visit import usable_login

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

#: Pages that hold credentials or codes: never cached, never framed (clickjacking on the
#: Authorize button). No ``form-action``: browsers apply it to the redirect that follows
#: the consent form, which goes to the client's own URI.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
}

SCOPE_DESCRIPTIONS = {
    "read": "Read all your account's data",
    "write": "Change all your account's data",
    "follow": "Follow, block and mute accounts",
    "push": "Receive push notifications",
    "profile": "See your profile's basic information",
    "admin:read": "Read all data on the server",
    "admin:write": "Moderate the server",
}

_OAUTH_FIELDS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "code_challenge",
    "code_challenge_method",
)


@dataclass(frozen=True, slots=True)
class AuthorizeRequest:
    response_type: str | None
    client_id: str | None
    redirect_uri: str | None
    scope: str | None
    state: str | None
    code_challenge: str | None
    code_challenge_method: str | None

    @classmethod
    def from_mapping(cls, values: Any) -> AuthorizeRequest:
        def text(name: str) -> str | None:
            value = values.get(name)
            return value if isinstance(value, str) and value != "" else None

        return cls(**{name: text(name) for name in _OAUTH_FIELDS})

    def query(self) -> str:
        return urlencode({name: getattr(self, name) for name in _OAUTH_FIELDS if getattr(self, name) is not None})


@dataclass(frozen=True, slots=True)
class Validated:
    app: App
    redirect_uri: str
    scopes: tuple[str, ...]


class PageError(Exception):
    """A problem shown on our own page (the client cannot be trusted with a redirect)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ClientError(Exception):
    """A problem reported back to the client through its redirect URI (RFC 6749 §4.1.2.1)."""

    def __init__(self, target: Validated | tuple[App, str], error: oauth.OAuthError, state: str | None) -> None:
        super().__init__(error.description)
        self.redirect_uri = target.redirect_uri if isinstance(target, Validated) else target[1]
        self.error = error
        self.state = state


def _signer(services: Services) -> SessionSigner:
    return SessionSigner(services.settings.ensure_secret_key())


def _secure(services: Services) -> bool:
    return services.settings.base_url.startswith("https://")


def _page(
    request: Request,
    template: str,
    context: dict[str, Any],
    services: Services,
    session: Session | None = None,
    status_code: int = 200,
) -> Response:
    context = {"instance_title": services.settings.instance_title, **context}
    if session is not None:
        context.setdefault("csrf", session.csrf)
    response = templates.TemplateResponse(request, template, context, status_code=status_code, headers=PAGE_HEADERS)
    if session is not None:
        write_session(response, session, _signer(services), _secure(services))
    return response


def _error_page(request: Request, services: Services, status: int, message: str) -> Response:
    return _page(
        request, "error.html", {"title": "Something went wrong", "message": message}, services, status_code=status
    )


def with_params(uri: str, params: dict[str, str | None]) -> str:
    """``uri`` with ``params`` added to its query (its own query parameters kept)."""
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((name, value) for name, value in params.items() if value is not None)
    return urlunsplit(parts._replace(query=urlencode(query)))


async def _validate(services: Services, req: AuthorizeRequest) -> Validated:
    app = await oauth.find_app(services, req.client_id or "")
    if app is None:
        raise PageError(400, "This application is unknown to this server (client_id).")
    try:
        redirect_uri = oauth.resolve_redirect_uri(app, req.redirect_uri)
    except oauth.OAuthError as exc:
        raise PageError(400, "The redirect URI is not one this application registered.") from exc
    if req.response_type != "code":
        error = oauth.OAuthError("unsupported_response_type", "Only response_type=code is supported.")
        raise ClientError((app, redirect_uri), error, req.state)
    try:
        scopes = oauth.resolve_scopes(app.scopes, req.scope)
        oauth.check_code_challenge(req.code_challenge, req.code_challenge_method)
    except oauth.OAuthError as exc:
        raise ClientError((app, redirect_uri), exc, req.state) from exc
    return Validated(app, redirect_uri, scopes)


def _client_error(request: Request, services: Services, error: ClientError) -> Response:
    if error.redirect_uri == oauth.OOB:
        return _error_page(request, services, 400, error.error.description)
    target = with_params(
        error.redirect_uri,
        {"error": error.error.error, "error_description": error.error.description, "state": error.state},
    )
    return RedirectResponse(target, status_code=302, headers={"Cache-Control": "no-store"})


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes", "on")


def _scope_lines(scopes: tuple[str, ...]) -> list[dict[str, str]]:
    """Each scope with a sentence a person understands."""
    lines = []
    for scope in scopes:
        if scope in SCOPE_DESCRIPTIONS:
            text = SCOPE_DESCRIPTIONS[scope]
        else:
            head, _, detail = scope.rpartition(":")
            verb = "Read" if head.endswith("read") else "Change"
            owner = "the server's" if head.startswith("admin") else "your"
            text = f"{verb} {owner} {detail.replace('_', ' ')}"
        lines.append({"scope": scope, "text": text})
    return lines


def _sign_in_page(
    request: Request,
    services: Services,
    session: Session,
    next_url: str,
    app_name: str | None = None,
    error: str | None = None,
    login: str = "",
    status_code: int = 200,
) -> Response:
    context = {"title": "Sign in", "next": next_url, "app_name": app_name, "error": error, "login": login}
    return _page(request, "sign_in.html", context, services, session, status_code)


@router.get("/oauth/authorize")
async def authorize(request: Request, services: ServicesDep) -> Response:
    req = AuthorizeRequest.from_mapping(request.query_params)
    try:
        valid = await _validate(services, req)
    except PageError as exc:
        return _error_page(request, services, exc.status, exc.message)
    except ClientError as exc:
        return _client_error(request, services, exc)
    session = read_session(request, _signer(services))
    current = await usable_login(services, session)
    back_here = f"/oauth/authorize?{req.query()}"
    if current is None or _truthy(request.query_params.get("force_login")):
        # The session is left as it is: a GET must not sign anyone out (an <img> on another
        # site could), and signing in on this form replaces it anyway.
        return _sign_in_page(request, services, session or new_session(), back_here, app_name=valid.app.name)
    assert session is not None
    _user, account = current
    context = {
        "title": f"Authorize {valid.app.name}",
        "app": valid.app,
        "account": account,
        "scopes": _scope_lines(valid.scopes),
        "fields": {name: getattr(req, name) for name in _OAUTH_FIELDS if getattr(req, name) is not None},
        "switch_url": f"{back_here}&force_login=true",
        "oob": valid.redirect_uri == oauth.OOB,
    }
    return _page(request, "authorize.html", context, services, session)


@router.post("/oauth/authorize")
async def authorize_decision(request: Request, services: ServicesDep) -> Response:
    form = await request.form(max_files=0, max_fields=50)
    session = read_session(request, _signer(services))
    req = AuthorizeRequest.from_mapping(form)
    decision = form.get("decision")
    csrf = form.get("csrf")
    if not csrf_ok(session, csrf if isinstance(csrf, str) else None):
        return _error_page(request, services, 403, "Your session expired. Go back, reload the page and try again.")
    try:
        valid = await _validate(services, req)
    except PageError as exc:
        return _error_page(request, services, exc.status, exc.message)
    except ClientError as exc:
        return _client_error(request, services, exc)
    current = await usable_login(services, session)
    if current is None:
        return RedirectResponse(f"/oauth/authorize?{req.query()}", status_code=303)
    user, account = current
    if decision != "approve":
        denied = oauth.OAuthError("access_denied", "The resource owner or authorization server denied the request.")
        return _client_error(request, services, ClientError(valid, denied, req.state))
    code = await oauth.create_authorization_code(
        services,
        valid.app,
        user.id,
        account.id,
        valid.redirect_uri,
        valid.scopes,
        req.code_challenge,
        req.code_challenge_method,
    )
    if valid.redirect_uri == oauth.OOB:
        context = {"title": "Authorization code", "app": valid.app, "code": code}
        return _page(request, "code.html", context, services, session)
    target = with_params(valid.redirect_uri, {"code": code, "state": req.state})
    return RedirectResponse(target, status_code=302, headers={"Cache-Control": "no-store"})


def _safe_next(value: Any) -> str:
    """A same-site path to return to after signing in (never another site: no open redirect)."""
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return ""
    if any(ord(char) < 0x20 for char in value):
        return ""
    return value


def _session_expired(
    request: Request, services: Services, session: Session | None, next_url: str, login: str = ""
) -> Response:
    """The sign-in form again, for a POST whose CSRF token did not match its session."""
    # Keep a valid session: a forged cross-site POST must not sign anyone out.
    fresh = session or new_session()
    message = "Your session expired. Please sign in again."
    return _sign_in_page(request, services, fresh, next_url, error=message, login=login, status_code=403)


def _too_many(exc: RateLimited, what: str) -> str:
    minutes = max(1, math.ceil(exc.reset_after / 60))
    return f"Too many {what}. Try again in {minutes} minute{'s' if minutes > 1 else ''}."


@router.get("/auth/sign_in")
async def sign_in_form(request: Request, services: ServicesDep) -> Response:
    session = read_session(request, _signer(services)) or new_session()
    return _sign_in_page(request, services, session, _safe_next(request.query_params.get("next")))


@router.post("/auth/sign_in")
async def sign_in(request: Request, services: ServicesDep) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    session = read_session(request, _signer(services))
    next_url = _safe_next(form.get("next"))
    login = form.get("login")
    password = form.get("password")
    login = login.strip() if isinstance(login, str) else ""
    password = password if isinstance(password, str) else ""
    csrf = form.get("csrf")
    if session is None or not csrf_ok(session, csrf if isinstance(csrf, str) else None):
        return _session_expired(request, services, session, next_url, login)
    try:
        await hit_login_limits(services, client_address(request), login)
    except RateLimited as exc:
        message = _too_many(exc, "sign-in attempts")
        return _sign_in_page(request, services, session, next_url, error=message, login=login, status_code=429)
    try:
        user, account = await service.authenticate(services, login, password)
    except service.InvalidCredentials:
        message = "That login name and password do not match."
        return _sign_in_page(request, services, session, next_url, error=message, login=login, status_code=401)
    except service.LoginDisabled as exc:
        return _sign_in_page(request, services, session, next_url, error=exc.message, login=login, status_code=403)
    if _must_confirm(services, user):
        # Only now, with the password checked, may the page say what the login lacks.
        ticket = _tickets(services).issue(user.id, session.csrf)
        return _confirmation_page(request, services, _Confirming(session, ticket, user, next_url), status_code=403)
    return _finish_sign_in(request, services, user, account, next_url)


def _finish_sign_in(request: Request, services: Services, user: User, account: Account, next_url: str) -> Response:
    """Sign ``user`` in on this browser: back to ``next_url``, or a page saying so."""
    fresh = signed_in(user.id, account.id)
    if next_url:
        response: Response = RedirectResponse(next_url, status_code=303, headers={"Cache-Control": "no-store"})
        write_session(response, fresh, _signer(services), _secure(services))
        return response
    context = {"title": "Signed in", "account": account}
    return _page(request, "signed_in.html", context, services, fresh)


@router.post("/auth/sign_out")
async def sign_out(request: Request, services: ServicesDep) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    session = read_session(request, _signer(services))
    csrf = form.get("csrf")
    if not csrf_ok(session, csrf if isinstance(csrf, str) else None):
        return _error_page(request, services, 403, "Your session expired. Reload the page and try again.")
    assert session is not None
    if session.api_token is not None:
        # The web app's token goes with the session it was issued to.
        grant = await oauth.resolve_token(services, session.api_token)
        if grant is not None:
            await oauth.revoke_access_token(services, grant.token_id)
    next_url = _safe_next(form.get("next"))
    fresh = signed_out(session)
    if next_url:
        response: Response = RedirectResponse(next_url, status_code=303)
        write_session(response, fresh, _signer(services), _secure(services))
        return response
    return _page(request, "signed_out.html", {"title": "Signed out"}, services, fresh)


@router.get("/auth/confirm")
async def confirm_email(request: Request, services: ServicesDep) -> Response:
    token = request.query_params.get("token", "")
    try:
        user = await verification.confirm_email(services, token)
    except NotFound as exc:
        return _error_page(request, services, 404, exc.message)
    context = {"title": "E-mail address confirmed", "email": user.email}
    return _page(request, "confirmed.html", context, services)


# -- confirming a login that has no token --------------------------------------------
#
# With ``require_verification``, a right password for an unconfirmed login opens a page
# instead of a session. A login that lost its sign-up token has no other way to get a
# new link or code, or to enter a code. The page is tied to a signed ticket (see
# ``confirm_tickets``) and each of its actions counts against the sign-in rate limits.

EXPIRED_TICKET = "This confirmation page has expired. Please sign in again."


def _tickets(services: Services) -> TicketSigner:
    return TicketSigner(services.settings.ensure_secret_key())


def _must_confirm(services: Services, user: User) -> bool:
    try:
        service.check_confirmed(services, user)
    except service.LoginUnconfirmed:
        return True
    return False


def _masked_email(email: str) -> str:
    """Enough of the address to recognise it, not enough to learn it from the page."""
    name, _, domain = email.rpartition("@")
    return f"{name[:1]}•••@{domain}"


def _pending(user: User) -> tuple[str | None, str | None]:
    """The e-mail address (masked) and phone number ending that still await confirmation."""
    email = _masked_email(user.email) if user.email and user.email_verified_at is None else None
    phone = user.phone[-3:] if user.phone and user.phone_verified_at is None else None
    return email, phone


@dataclass(frozen=True, slots=True)
class _Confirming:
    """What a confirmation page stands for: the browser's session, the ticket tying it to
    the login, the login, and where the sign-in was headed."""

    session: Session
    ticket: str
    user: User
    next_url: str


def _confirmation_page(
    request: Request,
    services: Services,
    confirming: _Confirming,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    user = confirming.user
    email, phone = _pending(user)
    context = {
        "title": "Confirm your login",
        "message": service.unconfirmed_message(bool(user.email), bool(user.phone)),
        "email": email,
        "phone": phone,
        "ticket": confirming.ticket,
        "next": confirming.next_url,
        "notice": notice,
        "error": error,
        "minutes": TICKET_LIFETIME // 60,
    }
    return _page(request, "confirm_login.html", context, services, confirming.session, status_code)


def _expired_ticket(request: Request, services: Services, session: Session, next_url: str) -> Response:
    return _sign_in_page(request, services, session, next_url, error=EXPIRED_TICKET, status_code=403)


async def _confirming(request: Request, services: Services, form: Any) -> _Confirming | Response:
    """Check a confirmation page's form: a Response to send back when it does not hold."""
    session = read_session(request, _signer(services))
    next_url = _safe_next(form.get("next"))
    csrf = form.get("csrf")
    if session is None or not csrf_ok(session, csrf if isinstance(csrf, str) else None):
        return _session_expired(request, services, session, next_url)
    raw_ticket = form.get("ticket")
    raw_ticket = raw_ticket if isinstance(raw_ticket, str) else None
    ticket = _tickets(services).read(raw_ticket, session.csrf)
    if ticket is None or raw_ticket is None:
        return _expired_ticket(request, services, session, next_url)
    try:
        user = await service.get_user(services, ticket.user_id)
    except NotFound:
        return _expired_ticket(request, services, session, next_url)
    if user.disabled:
        message = service.LoginDisabled().message
        return _sign_in_page(request, services, session, next_url, error=message, status_code=403)
    confirming = _Confirming(session, raw_ticket, user, next_url)
    try:
        await hit_login_limits_for(services, client_address(request), user.id)
    except RateLimited as exc:
        message = _too_many(exc, "sign-in attempts")
        return _confirmation_page(request, services, confirming, error=message, status_code=429)
    return confirming


async def _still_unconfirmed(request: Request, services: Services, form: Any) -> _Confirming | Response:
    """``_confirming``, and a login confirmed meanwhile (by a link opened elsewhere, say)
    signed in at once: whatever the page asked for is then moot."""
    confirming = await _confirming(request, services, form)
    if isinstance(confirming, Response) or _must_confirm(services, confirming.user):
        return confirming
    return await _signed_in_now(request, services, confirming)


async def _signed_in_now(request: Request, services: Services, confirming: _Confirming) -> Response:
    """The login confirmed: sign it in and go on where the sign-in was headed."""
    try:
        account = await service.primary_account(services, confirming.user.id)
    except NotFound:
        return _expired_ticket(request, services, confirming.session, confirming.next_url)
    return _finish_sign_in(request, services, confirming.user, account, confirming.next_url)


@router.post("/auth/confirmation/resend")
async def resend_confirmation(request: Request, services: ServicesDep) -> Response:
    """Send the e-mail link or SMS code again (``channel``), for a login without a token."""
    form = await request.form(max_files=0, max_fields=20)
    confirming = await _still_unconfirmed(request, services, form)
    if isinstance(confirming, Response):
        return confirming
    email, phone = _pending(confirming.user)
    channel: verification.Channel
    if form.get("channel") == "email" and email is not None:
        channel, notice = "email", f"A new link is on its way to {email}. Open it, then continue here."
    elif form.get("channel") == "phone" and phone is not None:
        channel, notice = "phone", f"A new code is on its way to your number ending in {phone}."
    else:
        error = "Choose what to send again: the e-mail link or the text message code."
        return _confirmation_page(request, services, confirming, error=error, status_code=400)
    try:
        await verification.request_again(services, confirming.user.id, channel)
    except RateLimited as exc:
        error = _too_many(exc, "messages were asked for")
        return _confirmation_page(request, services, confirming, error=error, status_code=429)
    except Forbidden as exc:  # confirmed in between, elsewhere
        return _confirmation_page(request, services, confirming, error=exc.message, status_code=409)
    return _confirmation_page(request, services, confirming, notice=notice)


@router.post("/auth/confirmation/phone")
async def confirm_phone(request: Request, services: ServicesDep) -> Response:
    """Check the SMS code of a login without a token; signed in when it is right."""
    form = await request.form(max_files=0, max_fields=20)
    confirming = await _still_unconfirmed(request, services, form)
    if isinstance(confirming, Response):
        return confirming
    code = form.get("code")
    code = code.strip() if isinstance(code, str) else ""
    if not code or len(code) > 12:
        error = "Enter the six-digit code from the text message."
        return _confirmation_page(request, services, confirming, error=error, status_code=422)
    try:
        confirmed = await verification.verify_phone(services, confirming.user.id, code)
    except ValidationFailed as exc:
        problems = exc.details.get("code") or [{"description": "is wrong"}]
        error = f"That code {problems[0]['description']}."
        return _confirmation_page(request, services, confirming, error=error, status_code=422)
    except NotFound:
        return _expired_ticket(request, services, confirming.session, confirming.next_url)
    return await _signed_in_now(request, services, replace(confirming, user=confirmed))


@router.post("/auth/confirmation/continue")
async def continue_after_confirming(request: Request, services: ServicesDep) -> Response:
    """Sign in once the link was opened (perhaps on another device); else say it is not yet."""
    form = await request.form(max_files=0, max_fields=20)
    confirming = await _still_unconfirmed(request, services, form)
    if isinstance(confirming, Response):
        return confirming
    error = "Not confirmed yet: open the link in the message first."
    return _confirmation_page(request, services, confirming, error=error, status_code=403)
