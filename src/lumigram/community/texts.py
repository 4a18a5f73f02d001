"""The server's rules and the admin's long texts (about, privacy policy, terms of service)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lumigram.community.models import Rule, ServerText
from lumigram.errors import Problems
from lumigram.infra.tables import instance_rules, instance_texts, utcnow
from lumigram.services import Services

#: The long texts an admin can set, by the name their Mastodon route uses.
TEXT_NAMES = ("extended_description", "privacy_policy", "terms_of_service")
MAX_RULE_CHARS = 500
MAX_TEXT_CHARS = 100_000


async def add_rule(services: Services, text: str, hint: str = "") -> Rule:
    """Append a rule; ValidationFailed when it is blank or too long."""
    text, hint = text.strip(), hint.strip()
    problems = Problems()
    if not text:
        problems.add("text", "ERR_BLANK", "can't be blank")
    for field, value in (("text", text), ("hint", hint)):
        if len(value) > MAX_RULE_CHARS:
            problems.add(field, "ERR_TOO_LONG", f"is too long (maximum is {MAX_RULE_CHARS} characters)")
    problems.raise_if_any()
    rule = Rule(services.ids.next_id(), text, hint)
    async with services.db.begin() as conn:
        await conn.execute(instance_rules.insert().values(id=rule.id, text=text, hint=hint, created_at=utcnow()))
    return rule


async def remove_rule(services: Services, rule_id: int) -> bool:
    """Remove a rule; False when there was none with that id."""
    async with services.db.begin() as conn:
        result = await conn.execute(delete(instance_rules).where(instance_rules.c.id == rule_id))
    return bool(result.rowcount)


async def list_rules(services: Services) -> list[Rule]:
    async with services.db.connect() as conn:
        rows = (await conn.execute(select(instance_rules).order_by(instance_rules.c.id))).all()
    return [Rule(row.id, row.text, row.hint) for row in rows]


async def set_text(services: Services, name: str, text: str) -> ServerText:
    """Replace one long text; an empty text removes it. ValidationFailed for an unknown name."""
    problems = Problems()
    if name not in TEXT_NAMES:
        problems.add("name", "ERR_INCLUSION", f"must be one of: {', '.join(TEXT_NAMES)}")
    if len(text) > MAX_TEXT_CHARS:
        problems.add("text", "ERR_TOO_LONG", f"is too long (maximum is {MAX_TEXT_CHARS} characters)")
    problems.raise_if_any()
    now = utcnow()
    text = text.strip()
    async with services.db.begin() as conn:
        if not text:
            await conn.execute(delete(instance_texts).where(instance_texts.c.name == name))
        else:
            dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            statement = dialect_insert(instance_texts).values(name=name, text=text, updated_at=now)
            await conn.execute(
                statement.on_conflict_do_update(index_elements=["name"], set_={"text": text, "updated_at": now})
            )
    return ServerText(name, text, now)


async def get_text(services: Services, name: str) -> ServerText | None:
    """The text the admin set under ``name``; None when there is none."""
    async with services.db.connect() as conn:
        row = (await conn.execute(select(instance_texts).where(instance_texts.c.name == name))).first()
    return None if row is None else ServerText(row.name, row.text, row.updated_at)
