"""A software MIFARE DESFire EV2-class card: :class:`VirtualCard`.

``card.process(apdu) -> response`` takes one command APDU and returns the response APDU, exactly
as a card behind a reader would.  The persistent memory is a :class:`~ekarta.emulator.state.
CardState`; what a real card forgets without power is one
:class:`~ekarta.emulator.card.context.Volatile` object: the selected application (and ISO EF),
the authentication session, a pending authentication handshake, the pending transaction (staged
writes), and the pending response or command chain.

Wire format and secure messaging follow ``docs/desfire-protocol.md``; the card runs the card side
of the very sessions the reader uses (:mod:`ekarta.desfire.session`, :mod:`ekarta.desfire.auth`).
The card is built of one module per command group, each a table from command code to handler:

* :mod:`.framing` — APDUs, native and ISO-wrapped frames, chaining both ways (0xAF), statuses;
* :mod:`.picc` — authentication, GetVersion, GetCardUID, FormatPICC, SetConfiguration, keys;
* :mod:`.applications` — Create/Delete/SelectApplication, GetApplicationIDs, GetDFNames;
* :mod:`.files` — Create*File, DeleteFile, file IDs and file settings;
* :mod:`.contents` — data, value and record files, CommitTransaction, AbortTransaction;
* :mod:`.iso7816` — ISO 7816-4 SELECT, READ BINARY, UPDATE BINARY;
* :mod:`.context` — the state the handlers work on and the checks they share;
* :mod:`.virtual` — :class:`VirtualCard`: power, fault injection, the entry point.

Status codes the documentation leaves open, as this card answers them:

* file commands at the PICC level (no application selected): 0xA0; PICC-only commands
  (CreateApplication, GetApplicationIDs, GetDFNames, FormatPICC, SetConfiguration) inside an
  application: 0x9D (the selection does not allow them).  CommitTransaction and
  AbortTransaction succeed anywhere (nothing to do at the PICC level).
* DeleteApplication always needs a session with key 0: the PICC master key at the PICC level,
  or the application's own master key inside it (PICC key settings bit 2 frees creation only).
* an operation that needs a key the session is not authenticated with: 0xAE; an operation no key
  may do (frozen keys, settings not changeable, FormatPICC disabled, every granting access
  right 0xF): 0x9D.
* a command on the wrong kind of file (ReadData on a value file...): 0x9E.
* WriteRecord after ClearRecordFile on the same file in one transaction (and the reverse): 0x9D.
* DeleteApplication of the selected application answers under the session, then the card is at
  the PICC level without authentication.  A failed SelectApplication keeps the old selection (but
  the authentication and the pending transaction are gone).
* SetConfiguration option 0x00 only ever sets bits (FormatPICC disabled and random UID are
  irreversible: clearing them is silently ignored); option 0x02 needs a well-formed ATS
  (TL = its length, 2..20 bytes), else 0x9E.
* A value file's "free GetValue" flag lets GetValue run in plain without a session.
* With random UIDs on, the card shows a random ID ``08 xx xx xx`` (new at every power-up) in
  anticollision, and GetVersion carries it padded with zeros to 7 bytes; GetCardUID gives the
  real UID.
"""

from ekarta.emulator.card.context import Volatile
from ekarta.emulator.card.framing import MAX_FRAME
from ekarta.emulator.card.picc import HW_VERSION, SW_VERSION
from ekarta.emulator.card.virtual import ATQA, SAK, VirtualCard

__all__ = ["ATQA", "HW_VERSION", "MAX_FRAME", "SAK", "SW_VERSION", "VirtualCard", "Volatile"]
