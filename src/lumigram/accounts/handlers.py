"""Bus consumers of the accounts service."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts import verification
from lumigram.events import UserRegistered, VerificationRequested
from lumigram.infra.outbox import run_once
from lumigram.services import Services

SEND_VERIFICATION = "accounts.send_verification"

_CHANNELS: dict[str, verification.Channel] = {"email": "email", "phone": "phone"}


async def _nothing(_conn: AsyncConnection) -> None:
    return None


def _message(services: Services, outgoing: verification.Outgoing) -> tuple[str, str]:
    settings = services.settings
    if outgoing.channel == "email":
        link = f"{settings.base_url}/auth/confirm?token={outgoing.secret}"
        subject = f"Confirm your e-mail address for {settings.instance_title}"
        body = (
            f"Hello,\n\nplease confirm your e-mail address for {settings.instance_title} "
            f"({settings.domain}) by opening this link:\n\n{link}\n\n"
            f"The link works for {int(verification.EMAIL_LIFETIME.total_seconds() // 3600)} hours. "
            "If you did not sign up, ignore this message.\n"
        )
        return subject, body
    minutes = int(verification.PHONE_LIFETIME.total_seconds() // 60)
    return (
        f"{settings.instance_title} code",
        f"{outgoing.secret} is your {settings.instance_title} code. It expires in {minutes} minutes.",
    )


async def send_verification(services: Services, event: UserRegistered | VerificationRequested) -> None:
    """Send the confirmation link or code for a sign-up or a resend request.

    Order matters: make the row, send, then record the event as handled. A crash
    between sending and recording sends the same message again (same derived secret),
    which is harmless; recording first could lose the message for good. If sending
    fails we raise, so the bus delivers the event again.
    """
    if await verification.already_handled(services, SEND_VERIFICATION, event.id):
        return
    # A sign-up confirms every contact given; a resend names the one asked for.
    wanted = _CHANNELS.get(event.channel) if isinstance(event, VerificationRequested) else None
    for outgoing in await verification.prepare(services, event.id, event.user_id, wanted):
        subject, body = _message(services, outgoing)
        sender = services.email if outgoing.channel == "email" else services.sms
        await sender.send(outgoing.target, subject, body)
    await run_once(services.db, SEND_VERIFICATION, event.id, _nothing)
