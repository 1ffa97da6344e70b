"""Roles and join links: ``/grant`` makes a one-time role link, ``/start role-…`` uses it, ``/invite`` sends a
unit's join link with a printable QR code, ``/roles`` lists who holds which role in a subtree."""

from __future__ import annotations

import io
import logging
from datetime import timedelta
from html import escape

import qrcode
from babel.dates import format_datetime
from telegram import InputFile, Update

from bot.context import Context
from bot.handlers.officer_scope import OFFICERS, asker_locale, officer_scope, telegram_contact
from conversations.identity import shown_name
from locales import gettext
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import unit_of_work
from storage.models import Person, RoleName

log = logging.getLogger(__name__)

ROLE_PREFIX = "role-"
# Why a role link grants nothing (repo_roles.InviteError.reason), spelled out so the catalog check sees each key.
_REFUSED = {
    "unknown": "officer.grant.unknown",
    "used": "officer.grant.used",
    "revoked": "officer.grant.revoked",
    "expired": "officer.grant.expired",
}


def join_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"


def qr_png(text: str) -> bytes:
    """A QR code of ``text`` as PNG bytes, large enough to print on an A4 notice."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=12, border=4)
    code.add_data(text)
    code.make(fit=True)
    buf = io.BytesIO()
    code.make_image().save(buf, format="PNG")
    return buf.getvalue()


def role_label(role: str, locale: str) -> str:
    return gettext(f"officer.role.{role}", locale)


def parse_role(word: str) -> str | None:
    word = word.strip().lower()
    aliases = {
        "officer": RoleName.OFFICER,
        "canbo": RoleName.OFFICER,
        "reviewer": RoleName.REVIEWER,
        "todanhgia": RoleName.REVIEWER,
        "head": RoleName.HEAD,
        "truong": RoleName.HEAD,
    }
    return aliases.get(word)


async def grant_command(update: Update, context: Context) -> None:
    """/grant ROLE UNIT_CODE: a one-time link that gives ROLE on the unit to whoever opens it first."""
    message = update.effective_message
    assert message is not None
    args = list(context.args or [])
    role = parse_role(args[0]) if args else None
    if role is None or len(args) < 2:
        await message.reply_html(gettext("officer.grant.usage", asker_locale(update, context)))
        return
    scope = await officer_scope(update, context, OFFICERS, args[1:2])
    if scope is None:
        return
    hours = context.settings.role_invite_hours
    async with unit_of_work(context.db) as session:
        officer = await session.get(Person, scope.officer_id)
        unit = await rp.get_unit(session=session, unit_id=scope.unit_id)
        assert officer is not None and unit is not None
        if not await rr.may_grant(
            session=session, person=officer, role=role, unit=unit, admin_ids=context.settings.admin_ids
        ):
            await message.reply_html(gettext("officer.scope.no_role", scope.locale))
            return
        now = context.now()
        token = await rr.create_invite(
            session=session, role=role, unit=unit, created_by=officer, now=now, ttl=timedelta(hours=hours)
        )
    log.info("role invite created: role=%s unit=%s", role, scope.unit_id)
    link = join_link(context.bot.username, ROLE_PREFIX + token)
    await message.reply_html(
        gettext(
            "officer.grant.link",
            scope.locale,
            role=role_label(role, scope.locale),
            unit=escape(scope.unit_name),
            code=escape(scope.unit_code),
            link=link,
            until=format_datetime(
                now + timedelta(hours=hours), "short", tzinfo=context.settings.zone, locale=scope.locale
            ),
        ),
        disable_web_page_preview=True,
    )


async def redeem(update: Update, context: Context, payload: str) -> None:
    """``/start role-<token>``: takes the role the link grants, once; says why when it cannot."""
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    assert message is not None and user is not None and chat is not None
    token = payload.removeprefix(ROLE_PREFIX)
    async with unit_of_work(context.db) as session:
        asker = telegram_contact(user.id)
        person = await rp.get_person(session=session, channel=asker.channel, external_id=asker.external_id, lock=True)
        if person is None:
            person = await rp.create_person(
                session=session,
                channel=asker.channel,
                external_id=asker.external_id,
                chat_id=str(chat.id),
                locale=asker_locale(update, context),
            )
        person.chat_id = str(chat.id)
        person.display_name = shown_name(user.full_name)
        locale = person.locale
        try:
            held, unit = await rr.redeem_invite(
                session=session, token=token, person=person, now=context.now(), admin_ids=context.settings.admin_ids
            )
        except rr.InviteError as exc:
            log.info("role invite refused: %s", exc.reason)
            text = gettext(_REFUSED[exc.reason], locale)
        else:
            log.info("role invite used: role=%s unit=%s", held.role, unit.id)
            text = (
                gettext("officer.grant.done", locale, role=role_label(held.role, locale), unit=escape(unit.name))
                + "\n\n"
                + gettext(f"officer.help.{held.role}", locale)
            )
    await message.reply_html(text, disable_web_page_preview=True)


async def invite_command(update: Update, context: Context) -> None:
    """/invite [UNIT_CODE]: the unit's join link and a QR code to print and post."""
    message = update.effective_message
    assert message is not None
    scope = await officer_scope(update, context, OFFICERS)
    if scope is None:
        return
    link = join_link(context.bot.username, scope.unit_code)
    caption = gettext(
        "officer.invite.caption", scope.locale, unit=escape(scope.unit_name), code=escape(scope.unit_code), link=link
    )
    await message.reply_document(
        InputFile(io.BytesIO(qr_png(link)), filename=f"qr-{scope.unit_code}.png"),
        caption=caption,
        parse_mode="HTML",
    )


async def roles_command(update: Update, context: Context) -> None:
    """/roles [UNIT_CODE]: who holds which role in the subtree."""
    message = update.effective_message
    assert message is not None
    scope = await officer_scope(update, context, OFFICERS)
    if scope is None:
        return
    async with unit_of_work(context.db) as session:
        unit = await rp.get_unit(session=session, unit_id=scope.unit_id)
        assert unit is not None
        found = await rr.holders(session=session, unit=unit)
    lines = [gettext("officer.roles.title", scope.locale, unit=escape(scope.unit_name))]
    for role, person, held in found:
        lines.append(
            gettext(
                "officer.roles.line",
                scope.locale,
                name=escape(person.full_name or person.display_name or "—"),
                contact=escape(str(person.contact)),
                role=role_label(role.role, scope.locale),
                code=escape(held.code),
            )
        )
    if not found:
        lines.append(gettext("officer.roles.none", scope.locale))
    await message.reply_html("\n".join(lines))
