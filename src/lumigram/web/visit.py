"""Who is looking at a page: the browser's session, and for a signed-in person their
profile and the web app's API token (issued on first use, again when it expired).

The token stands for the browser's session: when it was revoked (the person ended that
session from another one, or signed out everywhere) the browser is signed out."""

from __future__ import annotations

from dataclasses import dataclass, replace

from starlette.requests import Request

from lumigram.accounts import oauth, service, sessions
from lumigram.accounts.models import Account, TokenGrant, User
from lumigram.errors import NotFound
from lumigram.services import Services
from lumigram.web.session import Session, SessionSigner, new_session, read_session

#: What the web app's scripts may do with its token: what the person may do on its pages.
WEB_SCOPES = ("read", "write", "follow", "push")


@dataclass(frozen=True, slots=True)
class Visit:
    session: Session
    #: Whether ``session`` differs from the browser's cookie (a new token, a new CSRF value).
    changed: bool
    account: Account | None = None

    @property
    def viewer_id(self) -> int | None:
        return self.account.id if self.account is not None else None


def signer(services: Services) -> SessionSigner:
    return SessionSigner(services.settings.ensure_secret_key())


def _grant_fits(services: Services, session: Session, grant: TokenGrant | None) -> bool:
    """Whether the session's token is alive and belongs to a login that may act."""
    if grant is None or grant.account_id != session.account_id or grant.user_disabled:
        return False
    return grant.user_verified or not services.settings.require_verification


async def usable_login(services: Services, session: Session | None) -> tuple[User, Account] | None:
    """(login, profile) of a signed-in session whose login may still act; None otherwise."""
    if session is None or not session.signed_in:
        return None
    assert session.user_id is not None
    assert session.account_id is not None
    if session.api_token and await sessions.was_revoked(services, session.api_token):
        return None  # this browser's session was ended from another one
    try:
        user = await service.get_user(services, session.user_id)
        account = await service.get_account(services, session.account_id)
    except NotFound:
        return None
    if user.disabled or account.user_id != user.id:
        return None
    if services.settings.require_verification and not user.verified:
        return None  # a session from before the login had to confirm: sign in again, and be told why
    return user, account


async def current_visit(request: Request, services: Services) -> Visit:
    """The visit behind ``request``; a visitor without a cookie gets a new anonymous session."""
    session = read_session(request, signer(services))
    if session is None:
        return Visit(new_session(), changed=True)
    if not session.signed_in:
        return Visit(session, changed=False)
    assert session.user_id is not None
    assert session.account_id is not None
    grant = await oauth.resolve_token(services, session.api_token) if session.api_token else None
    if _grant_fits(services, session, grant):
        # The token's cached state already says the login may act: one read for the profile.
        try:
            return Visit(session, changed=False, account=await service.get_account(services, session.account_id))
        except NotFound:
            return Visit(session, changed=False)
    login = await usable_login(services, session)
    if login is None:
        return Visit(session, changed=False)
    account = login[1]
    issued = await oauth.issue_token(services, None, session.user_id, account.id, WEB_SCOPES, with_refresh=False)
    return Visit(replace(session, api_token=issued.access_token), changed=True, account=account)
