"""Roles and join codes, for every messenger: ``/grant`` makes a one-time role pass, ``/start role-…`` (or the
pass typed on its own, on Zalo) uses it, ``/invite`` gives a unit's way in with a printable QR code, ``/roles``
lists who holds which role in a subtree.

A pass is used by whoever brings it first, on whichever messenger they use, so ``/grant`` names every way in
this process can take it: Telegram's deep link (``t.me/<bot>?start=role-…``) and, where a Zalo bot runs, the
code to send to it (Zalo has no deep links). ``/invite`` answers on the officer's messenger: on Telegram the
t.me join link and its QR code; on Zalo how to find the bot and the unit code to type, with a QR code of
the bot's Zalo address (``ZALO_BOT_URL``) when one is configured.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Sequence
from datetime import timedelta
from html import escape

import qrcode
from babel.dates import format_datetime

from bot.context import BotData
from bot.handlers.officer_scope import OFFICERS, Refusal, Scope, scope_for
from bot.replies import OutFile, Plan
from bot.sender import Sender
from conversations.identity import Channel, shown_name
from locales import gettext, negotiate
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import unit_of_work
from storage.models import Person, RoleName

log = logging.getLogger(__name__)

ROLE_PREFIX = "role-"  # what /grant writes; "role_" is read too (a keyboard may offer either)
_PASS_START = re.compile(r"^role[-_]", re.IGNORECASE)
# A pass as /grant makes it (secrets.token_urlsafe(18): 24 characters), found inside a longer text (a
# forwarded message); a line that is only a pass may be any length, and gets "not valid" when it is none.
_PASS_INSIDE = re.compile(r"(?<![A-Za-z0-9_-])(role[-_][A-Za-z0-9_-]{24})(?![A-Za-z0-9_-])", re.IGNORECASE)
_TYPED_PASS = re.compile(r"^\s*(?:/start\s+|/)?(role[-_]\S+)\s*$", re.IGNORECASE)
# Why a role pass grants nothing (repo_roles.InviteError.reason), spelled out so the catalog check sees each key.
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


def is_role_pass(payload: str) -> bool:
    """Whether a ``/start`` payload is a role pass (``role-…``), not a unit's join code."""
    return bool(_PASS_START.match(payload))


def typed_pass(text: str) -> str | None:
    """The role pass in a typed line (Zalo, which has no deep links): ``/start role-…``, ``/role-…``, the pass
    alone, or a pass inside a forwarded message; None when the line holds none."""
    found = _TYPED_PASS.match(text) or _PASS_INSIDE.search(text)
    return found.group(1) if found else None


def _refused(refusal: Refusal) -> Plan:
    plan = Plan(locale=refusal.locale)
    plan.say(refusal.text())
    return plan


async def _own_locale(data: BotData, who: Sender) -> str:
    """The sender's language as stored, else what their messenger says, else the default."""
    async with data.sessions() as session:
        person = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id)
    return person.locale if person else negotiate(who.language_code, data.settings.default_locale)


# --------------------------------------------------------------------------- /grant and its pass


async def grant_command(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """/grant ROLE UNIT_CODE: a one-time pass that gives ROLE on the unit to whoever uses it first."""
    role = parse_role(args[0]) if args else None
    if role is None or len(args) < 2:
        plan = Plan(locale=await _own_locale(data, who))
        plan.say(gettext("officer.grant.usage", plan.locale))
        return plan
    scope = await scope_for(data, who, OFFICERS, args[1:2])
    if isinstance(scope, Refusal):
        return _refused(scope)
    plan = Plan(locale=scope.locale, viewer_id=scope.officer_id)
    hours = data.settings.role_invite_hours
    async with unit_of_work(data.sessions) as session:
        officer = await session.get(Person, scope.officer_id)
        unit = await rp.get_unit(session=session, unit_id=scope.unit_id)
        assert officer is not None and unit is not None
        if not await rr.may_grant(
            session=session, person=officer, role=role, unit=unit, admin_ids=data.settings.admin_ids
        ):
            plan.say(gettext("officer.scope.no_role", scope.locale))
            return plan
        now = data.now()
        token = await rr.create_invite(
            session=session, role=role, unit=unit, created_by=officer, now=now, ttl=timedelta(hours=hours)
        )
    log.info("role invite created: role=%s unit=%s", role, scope.unit_id)
    plan.say(
        gettext(
            "officer.grant.pass",
            scope.locale,
            role=role_label(role, scope.locale),
            unit=escape(scope.unit_name),
            code=escape(scope.unit_code),
            ways="\n".join(_ways_to_use(data, who, ROLE_PREFIX + token, scope.locale)),
            until=format_datetime(
                now + timedelta(hours=hours), "short", tzinfo=data.settings.zone, locale=scope.locale
            ),
        )
    )
    return plan


def _ways_to_use(data: BotData, who: Sender, role_pass: str, locale: str) -> list[str]:
    """One line per messenger this process serves: Telegram's deep link, the code to send the Zalo bot."""
    ways = []
    username = data.telegram_username()
    if username:
        ways.append(gettext("officer.grant.via_telegram", locale, link=join_link(username, role_pass)))
    if who.channel == Channel.ZALO.value or data.settings.zalo_bot_token is not None:
        ways.append(gettext("officer.grant.via_zalo", locale, code=role_pass, bot=_zalo_bot(data, locale)))
    return ways


async def redeem(data: BotData, who: Sender, payload: str) -> Plan:
    """``/start role-<token>`` (or the pass typed on Zalo): takes the role the pass grants, once; says why
    when it cannot."""
    token = payload[len(ROLE_PREFIX) :] if is_role_pass(payload) else payload
    plan = Plan()
    async with unit_of_work(data.sessions) as session:
        person = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id, lock=True)
        if person is None:
            person = await rp.create_person(
                session=session,
                channel=who.channel,
                external_id=who.external_id,
                chat_id=who.chat_id,
                locale=negotiate(who.language_code, data.settings.default_locale),
            )
        person.chat_id = who.chat_id
        if who.display_name:
            person.display_name = shown_name(who.display_name)
        plan.locale = locale = person.locale
        try:
            held, unit = await rr.redeem_invite(
                session=session, token=token, person=person, now=data.now(), admin_ids=data.settings.admin_ids
            )
        except rr.InviteError as exc:
            log.info("role invite refused: %s", exc.reason)
            plan.say(gettext(_REFUSED[exc.reason], locale))
        else:
            log.info("role invite used: role=%s unit=%s", held.role, unit.id)
            plan.say(
                gettext("officer.grant.done", locale, role=role_label(held.role, locale), unit=escape(unit.name))
                + "\n\n"
                + gettext(f"officer.help.{held.role}", locale)
            )
    return plan


# --------------------------------------------------------------------------- /invite


async def invite_command(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """/invite [UNIT_CODE]: how citizens of the unit start, with a QR code to print and post."""
    scope = await scope_for(data, who, OFFICERS, args)
    if isinstance(scope, Refusal):
        return _refused(scope)
    plan = Plan(locale=scope.locale, viewer_id=scope.officer_id)
    username = data.telegram_username()
    if who.channel == Channel.TELEGRAM.value and username:
        _telegram_invite(data, plan, scope, join_link(username, scope.unit_code))
    else:
        _zalo_invite(data, plan, scope)
    return plan


def _telegram_invite(data: BotData, plan: Plan, scope: Scope, link: str) -> None:
    """The t.me join link and its QR code, in one picture to print; the Zalo way too where it is configured."""
    caption = gettext(
        "officer.invite.caption", scope.locale, unit=escape(scope.unit_name), code=escape(scope.unit_code), link=link
    )
    if data.settings.zalo_bot_url or data.settings.zalo_bot_name:
        caption += "\n\n" + gettext(
            "officer.invite.also_zalo", scope.locale, bot=_zalo_bot(data, scope.locale), code=escape(scope.unit_code)
        )
    plan.attach(OutFile(f"qr-{scope.unit_code}.png", qr_png(link), "image/png", caption))


def _zalo_invite(data: BotData, plan: Plan, scope: Scope) -> None:
    """Zalo has no deep links: how to find the bot and the code to type; a QR code of the bot's Zalo address
    when one is configured (Zalo opens the chat with the bot from it)."""
    url = data.settings.zalo_bot_url
    plan.say(
        gettext(
            "officer.invite.zalo",
            scope.locale,
            unit=escape(scope.unit_name),
            code=escape(scope.unit_code),
            find=_how_to_find(data, scope.locale),
        )
    )
    if url:
        caption = gettext("officer.invite.zalo_qr", scope.locale, code=escape(scope.unit_code))
        plan.attach(OutFile(f"qr-{scope.unit_code}-zalo.png", qr_png(url), "image/png", caption))


def _zalo_bot(data: BotData, locale: str) -> str:
    """The Zalo bot as people can find it: its name, its address, or both."""
    name, url = data.settings.zalo_bot_name, data.settings.zalo_bot_url
    if name and url:
        return gettext("officer.invite.bot_name_url", locale, name=escape(name), url=url)
    if name:
        return gettext("officer.invite.bot_name", locale, name=escape(name))
    if url:
        return gettext("officer.invite.bot_url", locale, url=url)
    return gettext("officer.invite.bot_unnamed", locale)


def _how_to_find(data: BotData, locale: str) -> str:
    name, url = data.settings.zalo_bot_name, data.settings.zalo_bot_url
    if name and url:
        return gettext("officer.invite.find_name_url", locale, name=escape(name), url=url)
    if name:
        return gettext("officer.invite.find_name", locale, name=escape(name))
    if url:
        return gettext("officer.invite.find_url", locale, url=url)
    return gettext("officer.invite.find_unnamed", locale)


# --------------------------------------------------------------------------- /roles


async def roles_command(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """/roles [UNIT_CODE]: who holds which role in the subtree, by name."""
    scope = await scope_for(data, who, OFFICERS, args)
    if isinstance(scope, Refusal):
        return _refused(scope)
    async with unit_of_work(data.sessions) as session:
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
    plan = Plan(locale=scope.locale, viewer_id=scope.officer_id)
    plan.say("\n".join(lines))
    return plan
