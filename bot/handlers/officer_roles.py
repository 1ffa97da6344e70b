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
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.context import BotData
from bot.handlers import officer_help
from bot.handlers.officer_scope import OFFICERS, Refusal, Scope, asking_person, refresh_name, scope_for
from bot.replies import OutFile, Plan
from bot.screens import Choice, Screen, one_per_row
from bot.sender import Sender
from conversations.identity import Channel, Contact
from conversations.typed_choice import fold
from locales import gettext, gettext_typed, negotiate
from storage import repo_people as rp
from storage import repo_roles as rr
from storage.db import unit_of_work
from storage.models import Person, Role, RoleName, Unit

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


PRESS_PREFIX = "rl"  # roles' choices: rl|g|ROLE (then the unit), rl|u|ROLE|UNIT_ID, rl|x|y|n|ROLE_ID (revoke)
UNIT_PICK_MAX = 12  # units offered by /grant without a code; more are reached by typing the code
REVOKE_PICK_MAX = 24  # roles /roles offers to revoke; a bigger subtree is narrowed by a unit code
PER_ROW = 4  # short buttons ("❌ 3") in a row
# A role as people say it, folded (no accents, no spaces): the English word, the Vietnamese one, and the
# role's longer Vietnamese name.
ROLE_WORDS: dict[str, str] = {
    "officer": RoleName.OFFICER,
    "canbo": RoleName.OFFICER,
    "canbokhuyenhoc": RoleName.OFFICER,
    "reviewer": RoleName.REVIEWER,
    "todanhgia": RoleName.REVIEWER,
    "thanhvientodanhgia": RoleName.REVIEWER,
    "head": RoleName.HEAD,
    "thutruong": RoleName.HEAD,
    "truong": RoleName.HEAD,
    "nguoiky": RoleName.HEAD,
}
_MOST_WORDS = 4  # "thành viên tổ đánh giá"
# The choices of /grant without arguments: each role's label, and the words that pick it when typed.
GRANT_ROLES = (RoleName.OFFICER, RoleName.REVIEWER, RoleName.HEAD)


def role_label(role: str, locale: str) -> str:
    return gettext(f"officer.role.{role}", locale)


def parse_role(word: str) -> str | None:
    """A role named in English or Vietnamese, accents and case ignored: "cán bộ", "can bo", "Tổ đánh giá"."""
    return ROLE_WORDS.get(fold(word).replace(" ", ""))


def split_role(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """The role named by the first words of ``args`` (a Vietnamese role takes several: "tổ đánh giá THON1") and
    the words after it; (None, args) when they name none."""
    for count in range(min(_MOST_WORDS, len(args)), 0, -1):
        role = parse_role(" ".join(args[:count]))
        if role is not None:
            return role, list(args[count:])
    return None, list(args)


def is_role_pass(payload: str) -> bool:
    """Whether a ``/start`` payload is a role pass (``role-…``), not a unit's join code."""
    return bool(_PASS_START.match(payload))


def typed_pass(text: str) -> str | None:
    """The role pass in a typed line (Zalo, which has no deep links): ``/start role-…``, ``/role-…``, the pass
    alone, or a pass inside a forwarded message; None when the line holds none."""
    found = _TYPED_PASS.match(text) or _PASS_INSIDE.search(text)
    return found.group(1) if found else None


async def _own_locale(data: BotData, who: Sender) -> str:
    """The sender's language as stored, else what their messenger says, else the default."""
    async with data.sessions() as session:
        person = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id)
    return person.locale if person else negotiate(who.language_code, data.settings.default_locale)


# --------------------------------------------------------------------------- /grant and its pass


async def grant_command(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """/grant ROLE UNIT_CODE: a one-time pass that gives ROLE on the unit to whoever uses it first. Without a role
    the roles are offered, without a unit the units of the granter's scope."""
    role, rest = split_role(args)
    if role is None and args:
        plan = Plan(locale=await _own_locale(data, who))
        plan.say(gettext_typed("officer.grant.usage", plan.locale, typed=not who.buttons))
        return plan
    if role is None or not rest:
        return await _offer(data, who, role)
    scope = await scope_for(data, who, OFFICERS, rest[:1])
    if isinstance(scope, Refusal):
        return scope.plan()
    return await _make_pass(data, who, role, scope.unit_id)


async def _offer(data: BotData, who: Sender, role: str | None) -> Plan:
    """The roles to grant (``role`` None), or the units of the granter's scope to grant ``role`` on."""
    plan = Plan(locale=negotiate(who.language_code, data.settings.default_locale))
    async with unit_of_work(data.sessions) as session:
        granter = await _granter(session, data, who)
        if granter is None:
            plan.say(gettext("officer.scope.no_role", plan.locale))
            return plan
        officer, roots = granter
        plan.locale, plan.viewer_id = officer.locale, officer.id
        if role is None:
            plan.show(_role_screen(plan.locale))
            return plan
        units = await rr.units_to_offer(session=session, roots=roots, limit=UNIT_PICK_MAX + 1)
    plan.show(_unit_screen(role, units, plan.locale, typed=not who.buttons))
    return plan


async def _granter(session: AsyncSession, data: BotData, who: Sender) -> tuple[Person, list[Unit] | None] | None:
    """The person granting and the tops of where they may grant (None: everywhere); None if they may nowhere."""
    admins = data.settings.admin_ids
    officer = await asking_person(
        session=session,
        asker=Contact(who.channel, who.external_id),
        chat_id=who.chat_id,
        locale=negotiate(who.language_code, data.settings.default_locale),
        admin_ids=admins,
    )
    if officer is None:
        return None
    refresh_name(officer, who.display_name)
    roots = await rr.scope_roots(session=session, person=officer, roles=OFFICERS, admin_ids=admins)
    if roots is not None and not roots:
        return None
    return officer, roots


def _role_screen(locale: str) -> Screen:
    choices = [
        Choice(role_label(role, locale), f"{PRESS_PREFIX}|g|{role}", _role_words(role, locale)) for role in GRANT_ROLES
    ]
    return Screen(gettext("officer.grant.pick_role", locale), one_per_row(*choices))


def _role_words(role: str, locale: str) -> tuple[str, ...]:
    """What picks a role typed: its label and the short words ("cán bộ"), whatever the accents."""
    return (role_label(role, locale), *gettext(f"officer.grant.words.{role}", locale).split("|"))


def _unit_screen(role: str, units: Sequence[Unit], locale: str, *, typed: bool) -> Screen:
    shown = units[:UNIT_PICK_MAX]
    text = gettext("officer.grant.pick_unit", locale, role=role_label(role, locale))
    if len(units) > len(shown):
        text += "\n" + gettext_typed("officer.grant.more_units", locale, typed=typed, count=len(shown), role=role)
    choices = [Choice(f"{u.name} ({u.code})", f"{PRESS_PREFIX}|u|{role}|{u.id}", (u.code,)) for u in shown]
    return Screen(text, one_per_row(*choices))


async def _make_pass(data: BotData, who: Sender, role: str, unit_id: int) -> Plan:
    """The pass for ``role`` on the unit, once the granter's right there is checked (again, for a choice)."""
    plan = Plan(locale=negotiate(who.language_code, data.settings.default_locale))
    hours = data.settings.role_invite_hours
    async with unit_of_work(data.sessions) as session:
        officer = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id)
        unit = await rp.get_unit(session=session, unit_id=unit_id)
        if officer is not None:
            plan.locale, plan.viewer_id = officer.locale, officer.id
        if (
            officer is None
            or unit is None
            or not await rr.may_grant(
                session=session, person=officer, role=role, unit=unit, admin_ids=data.settings.admin_ids
            )
        ):
            plan.say(gettext("officer.scope.no_role", plan.locale))
            return plan
        now = data.now()
        token = await rr.create_invite(
            session=session, role=role, unit=unit, created_by=officer, now=now, ttl=timedelta(hours=hours)
        )
        name, code = unit.name, unit.code
    log.info("role invite created: role=%s unit=%s", role, unit_id)
    plan.say(
        gettext(
            "officer.grant.pass",
            plan.locale,
            role=role_label(role, plan.locale),
            unit=escape(name),
            code=escape(code),
            ways="\n".join(_ways_to_use(data, who, ROLE_PREFIX + token, plan.locale)),
            until=format_datetime(now + timedelta(hours=hours), "short", tzinfo=data.settings.zone, locale=plan.locale),
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
        refresh_name(person, who.display_name)
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
            now_held = await officer_help.held_by(
                session=session, person=person, contact=person.contact, admin_ids=data.settings.admin_ids
            )
            plan.say(
                "\n\n".join(
                    [
                        gettext(
                            "officer.grant.done", locale, role=role_label(held.role, locale), unit=escape(unit.name)
                        ),
                        *officer_help.sections(now_held, locale, typed=not who.buttons),
                    ]
                )
            )
            menu = officer_help.menu_for(person, now_held)
            if menu is not None:
                plan.menus.append(menu)
    return plan


# --------------------------------------------------------------------------- /invite


async def invite_command(data: BotData, who: Sender, args: Sequence[str]) -> Plan:
    """/invite [UNIT_CODE]: how citizens of the unit start, with a QR code to print and post."""
    scope = await scope_for(data, who, OFFICERS, args)
    if isinstance(scope, Refusal):
        return scope.plan()
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
    """/roles [UNIT_CODE]: who holds which role in the subtree, by name, each with a choice to revoke it."""
    scope = await scope_for(data, who, OFFICERS, args)
    if isinstance(scope, Refusal):
        return scope.plan()
    async with unit_of_work(data.sessions) as session:
        unit = await rp.get_unit(session=session, unit_id=scope.unit_id)
        assert unit is not None
        found = await rr.holders(session=session, unit=unit)
    typed, locale = not who.buttons, scope.locale
    items = [(held.id or 0, _holding(locale, person, held.role, where)) for held, person, where in found]
    offered, rest = items[:REVOKE_PICK_MAX], items[REVOKE_PICK_MAX:]
    lines = [gettext("officer.roles.title", locale, unit=escape(scope.unit_name))]
    if typed:  # the numbered choices are the list itself
        choices = [Choice(f"❌ {line}", f"{PRESS_PREFIX}|x|{role_id}") for role_id, line in offered]
        rows = one_per_row(*choices)
    else:
        lines += [f"{n}. {line}" for n, (_, line) in enumerate(offered, start=1)]
        choices = [Choice(f"❌ {n}", f"{PRESS_PREFIX}|x|{role_id}") for n, (role_id, _) in enumerate(offered, start=1)]
        rows = tuple(tuple(choices[i : i + PER_ROW]) for i in range(0, len(choices), PER_ROW))
    lines += [f"• {line}" for _, line in rest]
    if not found:
        lines.append(gettext("officer.roles.none", locale))
    elif rest:
        lines.append(gettext("officer.roles.more", locale, count=len(offered)))
    if offered:
        lines.append(gettext_typed("officer.roles.revoke_hint", locale, typed=typed))
    plan = Plan(locale=locale, viewer_id=scope.officer_id)
    plan.show(Screen("\n".join(lines), rows))
    return plan


def _holding(locale: str, person: Person, role: str, unit: Unit) -> str:
    """Who holds which role where: "Trần Thị Ba — thành viên tổ đánh giá, THON1"."""
    return gettext(
        "officer.roles.line", locale, name=_name(person, locale), role=role_label(role, locale), code=escape(unit.code)
    )


def _name(person: Person, locale: str) -> str:
    """The name people know: the one they gave, else their messenger's; the id only when neither is known."""
    name = person.full_name or person.display_name
    if name:
        return escape(name)
    return gettext("officer.roles.unnamed", locale, contact=escape(str(person.contact)))


# --------------------------------------------------------------------------- roles' choices


async def press(data: BotData, who: Sender, payload: str) -> Plan:
    """A choice of /grant (a role, then a unit) or of /roles (revoke a role, then confirm or cancel). Nothing in
    it is trusted: the presser's right is checked again; a role gone meanwhile gets a polite word."""
    parts = payload.split("|")
    verb = parts[1] if len(parts) > 1 else ""
    try:
        if verb == "g" and len(parts) == 3 and parts[2] in GRANT_ROLES:
            return await _offer(data, who, parts[2])
        if verb == "u" and len(parts) == 4 and parts[2] in GRANT_ROLES:
            return await _make_pass(data, who, parts[2], int(parts[3]))
        if verb in ("x", "y", "n") and len(parts) == 3:
            return await _revoke_step(data, who, verb, int(parts[2]))
    except ValueError:
        pass
    log.info("refused roles choice: forged")
    plan = Plan(locale=await _own_locale(data, who))
    plan.toast = gettext_typed("officer.forged", plan.locale, typed=not who.buttons)
    return plan


async def _revoke_step(data: BotData, who: Sender, verb: str, role_id: int) -> Plan:
    """``x``: asks "revoke role X of Y at Z?"; ``y``: revokes it (audited, their menu follows); ``n``: keeps it."""
    plan = Plan(locale=negotiate(who.language_code, data.settings.default_locale))
    admins = data.settings.admin_ids
    async with unit_of_work(data.sessions) as session:
        officer = await rp.get_person(session=session, channel=who.channel, external_id=who.external_id)
        if officer is None:
            plan.say(gettext("officer.scope.no_role", plan.locale))
            return plan
        refresh_name(officer, who.display_name)
        locale = plan.locale = officer.locale
        plan.viewer_id = officer.id
        plan.retire_pressed = verb != "x"
        held = await session.get(Role, role_id)
        holder = await session.get(Person, held.person_id) if held is not None else None
        unit = await rp.get_unit(session=session, unit_id=held.unit_id) if held and held.unit_id else None
        if held is None or holder is None or unit is None:
            plan.say(gettext("officer.roles.gone", locale))
            return plan
        if not await rr.may_grant(session=session, person=officer, role=held.role, unit=unit, admin_ids=admins):
            log.info("refused revocation: out of the presser's scope")
            plan.say(gettext("officer.roles.may_not_revoke", locale))
            return plan
        values = {"role": role_label(held.role, locale), "name": _name(holder, locale), "unit": escape(unit.name)}
        if verb == "n":
            plan.say(gettext("officer.roles.kept", locale, **values))
            return plan
        if verb == "x":
            yes = Choice(
                gettext("officer.roles.btn.revoke", locale),
                f"{PRESS_PREFIX}|y|{role_id}",
                _words("officer.roles.words.yes", locale),
            )
            no = Choice(
                gettext("officer.roles.btn.keep", locale),
                f"{PRESS_PREFIX}|n|{role_id}",
                _words("officer.roles.words.no", locale),
            )
            plan.show(Screen(gettext("officer.roles.ask", locale, code=escape(unit.code), **values), ((yes, no),)))
            return plan
        voided = await rr.revoke_recorded(
            session=session,
            person=holder,
            role=held.role,
            unit=unit,
            revoked_by=officer,
            via="chat",
            now=data.now(),
            admin_ids=admins,
        )
        if voided is None:  # revoked by someone else a moment ago
            plan.say(gettext("officer.roles.gone", locale))
            return plan
        log.info("role revoked in chat: role=%s unit=%s", held.role, unit.id)
        text = gettext("officer.roles.revoked", locale, **values)
        if voided:
            text += "\n" + gettext("officer.roles.voided", locale, count=voided)
        plan.say(text)
        menu = await officer_help.menu_after_change(session=session, person=holder, admin_ids=admins)
        if menu is not None:
            plan.menus.append(menu)
    return plan


def _words(key: str, locale: str) -> tuple[str, ...]:
    """Typed words that pick a choice besides its number ("thu hồi", "không")."""
    return tuple(gettext(key, locale).split("|"))
