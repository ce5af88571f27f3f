"""What a terminal or the e-shop tells the passenger, in English and Czech.

Every :class:`~ekarta.transit.model.values.Reason` and
:class:`~ekarta.transit.model.values.Note` has a text in each language of :data:`LANGUAGES`.
A terminal also says things that are no verdict (tap the card again, the barcode's data and
the age of its lists): each :class:`Notice` has a text in each language too.
Texts are ``str.format`` templates; dates are written the way each language writes them
(``1 May 2025``, ``1. 5. 2025``), times in Prague's local time, ages in days, hours and
minutes, and profiles and coupon types by their names in that language.
The Czech wording follows the operator's manual.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

from ekarta.transit.errors import InvalidField
from ekarta.transit.model.timecodec import to_local
from ekarta.transit.model.values import CardStatus, CouponType, Money, Note, Profile, Reason

__all__ = [
    "COUPON_TYPE_NAMES",
    "LABELS_CS",
    "LANGUAGES",
    "PROFILE_NAMES",
    "STATUS_NAMES",
    "Notice",
    "coupon_type_name",
    "format_age",
    "format_amount",
    "format_date",
    "format_money",
    "format_time",
    "label",
    "profile_name",
    "status_name",
    "text",
]

LANGUAGES = ("en", "cs")

_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August",
              "September", "October", "November", "December")

PROFILE_NAMES: dict[Profile, tuple[str, str]] = {
    Profile.ADULT_TRANSFERABLE: ("adult transferable", "občanský přenosný"),
    Profile.ADULT_NON_TRANSFERABLE: ("adult non-transferable", "občanský nepřenosný"),
    Profile.CHILD: ("children 6 to 15", "děti a žáci od 6 do 15 let"),
    Profile.STUDENT: ("pupils and students 15 to 26", "žáci a studenti od 15 do 26 let"),
    Profile.PENSIONER: ("pensioners under 70", "důchodci do 70 let"),
    Profile.DISABILITY_PENSIONER: ("disability pensioners (3rd degree)",
                                   "důchodci pro invaliditu třetího stupně"),
    Profile.SENIOR: ("citizens over 70", "občané nad 70 let"),
}

COUPON_TYPE_NAMES: dict[CouponType, tuple[str, str]] = {
    CouponType.DAYS_30: ("30-day coupon", "30denní kupon"),
    CouponType.DAYS_90: ("90-day coupon", "90denní kupon"),
    CouponType.YEARLY: ("yearly coupon", "roční kupon"),
    CouponType.DOG_30: ("30-day dog coupon", "30denní kupon pro psa"),
    CouponType.TRANSFERABLE_30: ("transferable 30-day coupon", "přenosný 30denní kupon"),
    CouponType.TRANSFERABLE_90: ("transferable 90-day coupon", "přenosný 90denní kupon"),
    CouponType.TRANSFERABLE_YEARLY: ("transferable yearly coupon", "přenosný roční kupon"),
}

STATUS_NAMES: dict[CardStatus, tuple[str, str]] = {
    CardStatus.ORDERED: ("ordered", "objednáno"),
    CardStatus.PRODUCED: ("produced", "vyrobeno"),
    CardStatus.ACTIVE: ("active", "aktivní"),
    CardStatus.BLOCKED: ("blocked", "zablokováno"),
}

# Two tables: Reason and Note are IntEnums, so Note.NETWORK == Reason.NO_COUPON == 1 and one
# dict would let a note overwrite a reason.
_REASON_TEXTS: dict[Reason, tuple[str, str]] = {
    Reason.VALID: ("Valid until {date}.", "Platí do {date}."),
    Reason.NO_COUPON: ("No coupon for this journey on the card.",
                       "Na e-kartě není kupon pro tuto jízdu."),
    Reason.NOT_YET_VALID: ("The coupon is valid only from {date}.",
                           "Kupon platí až od {date}."),
    Reason.EXPIRED: ("The coupon expired on {date}.", "Platnost kuponu skončila {date}."),
    Reason.ZONE_NOT_COVERED: ("The coupon is not valid in zone {zone}.",
                              "Kupon neplatí v zóně {zone}."),
    Reason.PROFILE_EXPIRED: (
        "The card's discounted profile ended on {date}; the card now has the adult "
        "non-transferable profile and this coupon is no longer valid.",
        "Platnost zlevněného profilu e-karty skončila {date}; e-karta má nyní profil občanský "
        "nepřenosný a kupon již neplatí."),
    Reason.CARD_EXPIRED: ("The card expired on {date}.", "Platnost e-karty skončila {date}."),
    Reason.CARD_BLOCKED: ("The card is blocked.", "E-karta je zablokována."),
    Reason.SIGNATURE_INVALID: (
        "The coupon's signature is invalid: it was not issued by the operator for this card.",
        "Podpis kuponu je neplatný: kupon nevydal provozovatel pro tuto e-kartu."),
    Reason.CARD_NOT_ACTIVE: ("The card is not active yet; it must be activated first.",
                             "E-karta ještě není aktivní; nejprve ji musíte aktivovat."),
    Reason.COUPON_UNREADABLE: (
        "A coupon on the card cannot be read; have it loaded again at a contact point.",
        "Kupon na e-kartě nelze přečíst; nechte jej znovu nahrát na kontaktním místě."),
    Reason.NOT_THE_HOLDER: (
        "The card is personal and not transferable: only its holder may travel with it.",
        "E-karta je osobní a nepřenosná: cestovat s ní smí jen její držitel."),
    Reason.ANONYMOUS_ONLY_TRANSFERABLE: (
        "An anonymous card takes only transferable coupons (and dog coupons).",
        "Na anonymní e-kartu lze zakoupit pouze přenosný kupon (nebo kupon pro psa)."),
    Reason.TRANSFERABLE_ONLY_ANONYMOUS: (
        "Transferable coupons are sold for anonymous cards only.",
        "Přenosný kupon lze zakoupit pouze na anonymní e-kartu."),
    Reason.TOO_MANY_COUPONS: (
        "The card already holds {count} coupons that are valid now or later; at most 4 are "
        "allowed at once.",
        "Na e-kartě je již kuponů platných nyní nebo v budoucnu: {count}; současně lze mít "
        "nejvýše 4 platné kupony."),
    Reason.START_IN_PAST: ("The coupon cannot start in the past (before {date}).",
                           "Platnost kuponu nemůže začít v minulosti (před {date})."),
    Reason.BANK_TRANSFER_TOO_EARLY: (
        "Paid by bank transfer, the coupon can start on {date} at the earliest (5 days after "
        "the purchase).",
        "Při platbě bankovním převodem může platnost kuponu začít nejdříve {date} (5 dnů po "
        "nákupu)."),
    Reason.PROFILE_END_LIMIT: (
        "The card's profile ends on {end}, so a coupon may run until {date} at the latest "
        "(29 days after); this one would end on {valid_to}. Choose a shorter coupon or renew "
        "the profile.",
        "Platnost profilu e-karty končí {end}, kupon proto smí platit nejdéle do {date} "
        "(29 dnů poté); tento by platil do {valid_to}. Zvolte kratší kupon nebo si prodlužte "
        "profil."),
    Reason.BIRTH_DATE_REQUIRED: (
        "The profile \u201c{profile}\u201d needs the holder's birth date on the card.",
        "Profil \u201e{profile}\u201c vyžaduje datum narození držitele na e-kartě."),
    Reason.AGE_NOT_ELIGIBLE: (
        "On {date} the holder's age ({age}) does not fit the profile \u201c{profile}\u201d.",
        "Věk držitele ke dni {date} ({age}) neodpovídá profilu \u201e{profile}\u201c."),
    Reason.NOTHING_TO_FOLLOW: (
        "There is no valid coupon with serial {serial} for a follow-on coupon to continue.",
        "Navazující kupon nelze zakoupit: platný kupon s číslem {serial} neexistuje."),
    Reason.PROFILE_NOT_ALLOWED: (
        "A coupon for the profile \u201c{profile}\u201d cannot be bought for this card "
        "starting on {date}.",
        "Kupon pro profil \u201e{profile}\u201c nelze k této e-kartě zakoupit s počátkem "
        "platnosti {date}."),
    Reason.NO_FREE_SLOT: (
        "The card has no free place for another coupon.",
        "Na e-kartě není volné místo pro další kupon."),
    Reason.NAME_BLANK: (
        "A personal card needs the holder's first name and surname, and one of them is blank.",
        "Osobní e-karta vyžaduje jméno a příjmení držitele a jedno z nich je prázdné."),
    Reason.BIRTH_DATE_IN_FUTURE: (
        "The birth date {date} is in the future.",
        "Datum narození {date} je v budoucnosti."),
    Reason.PROFILE_END_PASSED: (
        "The profile end {date} has already passed; choose a later date.",
        "Konec platnosti profilu {date} již uplynul; zvolte pozdější datum."),
    Reason.EXPIRY_PASSED: (
        "The card's expiry {date} has already passed; choose a later date.",
        "Konec platnosti e-karty {date} již uplynul; zvolte pozdější datum."),
    Reason.PROFILE_END_WITHOUT_DISCOUNT: (
        "The profile \u201c{profile}\u201d does not end: it takes no profile end date.",
        "Profil \u201e{profile}\u201c nekončí: datum konce platnosti profilu se u něj "
        "nezadává."),
    Reason.CARD_NOT_PRODUCED: (
        "Only a card with the status produced can be activated; this one is {status}.",
        "Aktivovat lze pouze e-kartu se stavem vyrobeno; tato je ve stavu {status}."),
    Reason.CARD_NOT_BLOCKED: (
        "The card is not blocked.",
        "E-karta není zablokována."),
    Reason.STATUS_NOT_ISSUABLE: (
        "A card is issued as produced or active, not {status}.",
        "E-karta se vydává ve stavu vyrobeno nebo aktivní, ne {status}."),
    Reason.SERIAL_HELD_BY_OTHER_COUPON: (
        "The card already holds another coupon with serial {serial}; it is not replaced "
        "(replacing a coupon is a separate operation).",
        "Na e-kartě je již jiný kupon s číslem {serial}; nebude nahrazen (nahrazení kuponu je "
        "samostatná operace)."),
    Reason.PURSE_LIMIT_EXCEEDED: (
        "The e-purse can hold at most {limit}: it holds {balance}, so {amount} cannot be added.",
        "Elektronická peněženka pojme nejvýše {limit}: obsahuje {balance}, nelze proto přidat "
        "{amount}."),
    Reason.PURSE_INSUFFICIENT: (
        "The e-purse holds {balance}, less than {amount}.",
        "Elektronická peněženka obsahuje {balance}, méně než {amount}."),
    Reason.PURSE_EMPTY: (
        "The e-purse is empty: there is nothing to pay back.",
        "Elektronická peněženka je prázdná: není co vrátit."),
    Reason.COUPON_NOT_ON_CARD: (
        "The card holds no coupon with serial {serial}.",
        "Na e-kartě není kupon s číslem {serial}."),
    Reason.OPERATION_SERIAL_USED: (
        "Operation serial {serial} was already used on this card for another operation.",
        "Číslo operace {serial} již bylo na této e-kartě použito pro jinou operaci."),
    Reason.ACTION_ELSEWHERE: (
        "Another terminal is writing this, or the office has closed it.",
        "Tuto akci zapisuje jiné zařízení, nebo ji Kartová aplikace uzavřela."),
    Reason.CREDIT_UNPROVEN: (
        "The purse is credited once the office confirms the credit was not made elsewhere.",
        "Peněženka se dobije, až Kartová aplikace potvrdí, že dobití neproběhlo jinde."),
}

_NOTE_TEXTS: dict[Note, tuple[str, str]] = {
    Note.NETWORK: ("More than 10 zones were chosen: the coupon is a network ticket.",
                   "Zvoleno více než 10 zón: kupon je síťová jízdenka."),
    Note.USABLE_UNTIL_CARD_EXPIRY: (
        "The card expires on {date}: with this card the coupon can be used until then only. "
        "Apply for a new card and the transfer of the coupon.",
        "Platnost e-karty končí {date}: s touto e-kartou lze kupon využívat nejdéle do tohoto "
        "dne. Požádejte o vydání nové e-karty a převedení kuponu."),
    Note.PROFILE_FALLBACK: (
        "The card's discounted profile ends on {date}: the coupon is sold for the adult "
        "non-transferable profile.",
        "Platnost zlevněného profilu e-karty končí {date}: kupon je prodán pro profil "
        "občanský nepřenosný."),
    Note.BANK_TRANSFER_START: (
        "Paid by bank transfer: the coupon starts on {date}, the earliest day possible (5 days "
        "after the purchase, for the payment to arrive).",
        "Při platbě bankovním převodem začíná platnost kuponu {date}, nejdříve jak je možné "
        "(5 dnů po nákupu, než platba dorazí)."),
}


class Notice(StrEnum):
    """What a terminal tells besides a verdict's reason."""

    TAP_AGAIN = "tap-again"
    """The card left before the tap was done."""
    NOT_A_TRANSIT_CARD = "not-a-transit-card"
    UNREADABLE = "unreadable"
    REFUSED_NUMBER = "refused-number"
    """A typed or scanned number whose check digit fails (``number``)."""
    FROM_BARCODE = "from-barcode"
    """The verdict comes from the synced lists, as of ``time``."""
    FROM_BARCODE_NEVER_SYNCED = "from-barcode-never-synced"
    STALE_LISTS = "stale-lists"
    """The lists are ``lists_age`` old, past the terminal's limit."""
    LISTS_NEVER_SYNCED = "lists-never-synced"
    FROM_OFFICE = "from-office"
    """The coupon that makes the card valid is paid at the office, not yet on the card."""
    REPEATED = "repeated"
    """The same card again within the repeat window: nothing written twice."""
    BLOCKED_WRITTEN = "blocked-written"


_NOTICE_TEXTS: dict[Notice, tuple[str, str]] = {
    Notice.TAP_AGAIN: (
        "The card was taken away too soon: tap it again and hold it still.",
        "E-karta byla oddálena příliš brzy: přiložte ji znovu a podržte."),
    Notice.NOT_A_TRANSIT_CARD: ("This is not a transit card of this operator.",
                                "Toto není e-karta tohoto dopravce."),
    Notice.UNREADABLE: ("The chip cannot be read: check the card's barcode.",
                        "Čip nelze přečíst: ověřte čárový kód e-karty."),
    Notice.REFUSED_NUMBER: ("Not a card number: {number} (its check digit is wrong).",
                            "Není číslo e-karty: {number} (nesouhlasí kontrolní číslice)."),
    Notice.FROM_BARCODE: ("From the barcode, with data as of {time}.",
                          "Podle čárového kódu, data aktuální k {time}."),
    Notice.FROM_BARCODE_NEVER_SYNCED: (
        "From the barcode, with lists that were never synced.",
        "Podle čárového kódu, seznamy dosud nebyly synchronizovány."),
    Notice.STALE_LISTS: (
        "The lists are {lists_age} old: a card blocked since may still show as valid.",
        "Seznamy jsou staré {lists_age}: e-karta zablokovaná od té doby se může jevit jako "
        "platná."),
    Notice.LISTS_NEVER_SYNCED: (
        "The lists were never synced: no blocked card is known.",
        "Seznamy dosud nebyly synchronizovány: žádná zablokovaná e-karta není známa."),
    Notice.FROM_OFFICE: (
        "The coupon is paid and held by the office; it is not on the card yet.",
        "Kupon je zaplacen a evidován v systému; na e-kartě zatím není."),
    Notice.REPEATED: ("Tapped again: shown again, validated once.",
                      "Opakované přiložení: zobrazeno znovu, odbaveno jen jednou."),
    Notice.BLOCKED_WRITTEN: ("The blocking is now written onto the card.",
                             "Blokace je nyní zapsána na e-kartu."),
}


LABELS_CS: dict[str, str] = {
    # the card record
    "transit card": "e-karta",
    "kind": "druh",
    "personal": "osobní",
    "anonymous": "anonymní",
    "holder": "držitel",
    "status": "stav",
    "ordered": "objednaná",
    "produced": "vyrobená",
    "active": "aktivní",
    "blocked": "blokovaná",
    "on the hotlist: blocked": "na seznamu blokovaných: blokovaná",
    "profile": "profil",
    "until": "do",
    "now": "nyní",
    "first name": "jméno",
    "surname": "příjmení",
    "birth date": "datum narození",
    "recorded": "zaznamenáno",
    "changed": "změněno",
    "profile end": "konec profilu",
    "expiry": "platnost do",
    "e-purse": "e-peněženka",
    "not read": "nenačtena",
    # coupons
    "coupons": "kupony",
    "slots": "míst",
    "slot": "místo",
    "empty": "prázdné",
    "unreadable": "nečitelné",
    "network": "síťová",
    "zones": "zóny",
    "future": "budoucí",
    "valid": "platný",
    "ended": "ukončený",
    "SIGNATURE INVALID": "NEPLATNÝ PODPIS",
    "price": "cena",
    "ticket-office": "pokladna",
    "eshop-card": "e-shop, platba kartou",
    "eshop-bank-transfer": "e-shop, bankovní převod",
    "kiosk": "samoobslužný automat",
    "inspector": "revizor",
    "transfer": "převod",
    # events
    "events": "události",
    "newest first": "nejnovější první",
    "none": "žádné",
    "record": "záznam",
    "device": "zařízení",
    "line": "linka",
    "vehicle": "vůz",
    "zone": "zóna",
    "coupon": "kupon",
    "operation": "operace",
    "validation": "odbavení",
    "inspection": "kontrola",
    "load": "nahrání kuponu",
    "kiosk-view": "zobrazení na automatu",
    "blocking": "blokace",
    "activation": "aktivace",
    "unblocking": "odblokování",
    "record-change": "změna údajů",
    "purse-credit": "dobití e-peněženky",
    "purse-debit": "platba z e-peněženky",
    "purse-refund": "vrácení zůstatku e-peněženky",
    "coupon-cancel": "zrušení kuponu",
    "coupon-replace": "náhrada kuponu",
    # the verdict
    "at": "k",
    "in any zone": "v libovolné zóně",
    "in zone": "v zóně",
    "verdict": "výsledek",
    "dog": "pes",
}
"""The Czech of every word and enum name ``card show`` prints, by its English (the enum names as
:func:`~ekarta.transit.model.notation.enum_name` writes them)."""

CURRENCY = ("CZK", "Kč")


def label(english: str, lang: str = "en") -> str:
    """``english`` (a label or an enum's text name) in ``lang``; English where Czech lacks it."""
    if _lang_index(lang) == 0:
        return english
    return LABELS_CS.get(english, english)


def format_money(amount: int | float | str, lang: str = "en", *, decimal: bool = False) -> str:
    """An amount in CZK as the language writes it: ``550 CZK``, ``550 Kč``; ``decimal``
    amounts are given in hellers (``12.50 CZK``, ``12,50 Kč``)."""
    index = _lang_index(lang)
    if decimal:
        value = int(amount)
        sign = "-" if value < 0 else ""
        crowns, haler = divmod(abs(value), 100)
        number = f"{sign}{crowns}{'.,'[index]}{haler:02d}"
    else:
        number = str(amount)
    return f"{number} {CURRENCY[index]}"


def _lang_index(lang: str) -> int:
    try:
        return LANGUAGES.index(lang)
    except ValueError:
        raise InvalidField(
            f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}") from None


def format_date(day: date, lang: str = "en") -> str:
    """``day`` as the language writes it: ``1 May 2025`` or ``1. 5. 2025``."""
    if _lang_index(lang) == 0:
        return f"{day.day} {_MONTHS_EN[day.month - 1]} {day.year}"
    return f"{day.day}. {day.month}. {day.year}"


def format_time(at: datetime, lang: str = "en") -> str:
    """The aware instant ``at`` as Prague's clocks show it: ``1 May 2025 14:05``,
    ``1. 5. 2025 14:05``."""
    local = to_local(at)
    return f"{format_date(local.date(), lang)} {local:%H:%M}"


def format_age(age: timedelta, lang: str = "en") -> str:
    """How old something is, to the minute: ``2 d 5 h``, ``3 h 20 min``, ``7 min``
    (the same abbreviations in both languages)."""
    _lang_index(lang)
    minutes = max(0, int(age.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


def format_amount(haler: int, lang: str = "en") -> str:
    """An amount in haléř as the language writes it: ``150.50 CZK``, ``150,50 Kč``."""
    index = _lang_index(lang)
    sign = "-" if haler < 0 else ""
    crowns, rest = divmod(abs(haler), 100)
    if index == 0:
        return f"{sign}{crowns}.{rest:02d} CZK"
    return f"{sign}{crowns},{rest:02d} Kč"


def profile_name(profile: Profile, lang: str = "en") -> str:
    """The profile's name in ``lang``: ``pupils and students 15 to 26``."""
    return PROFILE_NAMES[profile][_lang_index(lang)]


def coupon_type_name(coupon_type: CouponType, lang: str = "en") -> str:
    """The coupon type's name in ``lang``: ``30-day coupon``."""
    return COUPON_TYPE_NAMES[coupon_type][_lang_index(lang)]


def status_name(status: CardStatus, lang: str = "en") -> str:
    """The card status's name in ``lang``: ``produced``, ``vyrobeno``."""
    return STATUS_NAMES[status][_lang_index(lang)]


def _render(value: Any, lang: str) -> Any:
    if isinstance(value, datetime):
        return format_time(value, lang)
    if isinstance(value, timedelta):
        return format_age(value, lang)
    if isinstance(value, date):
        return format_date(value, lang)
    if isinstance(value, CardStatus):
        return status_name(value, lang)
    if isinstance(value, Money):
        return format_amount(value.haler, lang)
    if isinstance(value, Profile):
        return profile_name(value, lang)
    if isinstance(value, CouponType):
        return coupon_type_name(value, lang)
    return value


def text(code: Reason | Note | Notice, lang: str = "en", **details: Any) -> str:
    """The message for ``code`` in ``lang``, filled with ``details`` (dates, profile, zone...)."""
    # three tables: Reason and Note are IntEnums of overlapping numbers (see _REASON_TEXTS)
    if isinstance(code, Notice):
        templates = _NOTICE_TEXTS[code]
    elif isinstance(code, Note):
        templates = _NOTE_TEXTS[code]
    else:
        templates = _REASON_TEXTS[code]
    template = templates[_lang_index(lang)]
    return template.format(**{key: _render(value, lang) for key, value in details.items()})
