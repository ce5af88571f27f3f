"""The exception hierarchy of ekarta.

Everything ekarta raises on purpose derives from :class:`EkartaError`.  DESFire status codes map to
named subclasses of :class:`DESFireStatusError` that keep the raw status byte (``err.status``).

Four categories group a fault by meaning, whoever found it: the card (a status error), the reader's
client checking the card's answer, or the emulated card checking the reader's command with the very
same session code.  A caller catches the category:

================================ ===================================== ==========================
category                         found by the card (status)            found by ekarta
================================ ===================================== ==========================
:class:`AuthenticationError`     :class:`AuthenticationRejected` (AE)  :class:`ProofMismatch`,
                                                                       :class:`NotAuthenticated`
:class:`IntegrityError`          :class:`ChecksumRejected` (1E)        :class:`ChecksumMismatch`
:class:`BoundsError`             :class:`LengthError` (7E),            :class:`LengthMismatch`
                                 :class:`BoundaryError` (BE)
:class:`AccessError`             :class:`PermissionDenied` (9D)        (the card alone decides)
================================ ===================================== ==========================

The emulated card answers what ekarta finds with the status of the same category
(ProofMismatch and NotAuthenticated 0xAE, ChecksumMismatch 0x1E, LengthMismatch 0x7E).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar, TypeVar


class EkartaError(Exception):
    """Root of every error ekarta raises deliberately."""


# --- categories


class AuthenticationError(EkartaError):
    """Authentication is missing, was refused, or a party's proof of the key did not verify."""


class IntegrityError(EkartaError):
    """A MAC, CMAC or CRC did not verify, or the padding around it is wrong."""


class BoundsError(EkartaError):
    """A length, offset or value lies outside what the message, the file or the value allows."""


class AccessError(EkartaError):
    """No authentication can allow the operation: a right is "never", or a setting is frozen."""


# --- protocol layer


class ProtocolError(EkartaError):
    """The peer sent something that breaks the DESFire or ISO 7816 protocol."""


class MalformedMessage(ProtocolError):
    """A message is too short, too long or otherwise not what the command defines."""


class MalformedResponse(MalformedMessage):
    """A response from the card is too short, too long or otherwise malformed."""


class ChainingError(MalformedResponse):
    """The card chains its answer (status 0xAF) past what any answer needs: a frame with no
    data, or more frames or bytes than the largest answer a card can give."""


class LengthMismatch(MalformedMessage, BoundsError):
    """A message, or the data inside it, has a length that its command or its protection rules
    out: shorter than its MAC, not whole cipher blocks, not what was asked for."""


class ChecksumMismatch(ProtocolError, IntegrityError):
    """A MAC, CMAC or CRC did not verify, or its padding is wrong (found by ekarta, either end)."""


class ProofMismatch(ProtocolError, AuthenticationError):
    """A party's proof in an authentication handshake did not verify: the card's, found by the
    reader (wrong key, or a forged card), or the reader's, found by the emulated card."""


class NotAuthenticated(AuthenticationError):
    """An operation needs an authenticated session and there is none."""


class InvalidArgument(EkartaError, ValueError):
    """A caller passed a value the protocol cannot carry (bad length, range, key type...)."""


class DESFireStatusError(EkartaError):
    """The card answered with a DESFire error status; ``status`` holds the raw byte."""

    code: ClassVar[int | None] = None
    description: ClassVar[str] = "DESFire error"

    def __init__(self, status: int, command: int | None = None, message: str | None = None):
        self.status = status
        self.command = command
        text = message or self.description
        where = f" (command 0x{command:02X})" if command is not None else ""
        super().__init__(f"card status 0x{status:02X}: {text}{where}")


_BY_STATUS: dict[int, type[DESFireStatusError]] = {}
_S = TypeVar("_S", bound=type[DESFireStatusError])


def _status(code: int, description: str) -> Callable[[_S], _S]:
    def register(cls: _S) -> _S:
        cls.code = code
        cls.description = description
        _BY_STATUS[code] = cls
        return cls

    return register


@_status(0x0C, "no changes")
class NoChanges(DESFireStatusError):
    pass


@_status(0x0E, "out of EEPROM memory")
class OutOfMemory(DESFireStatusError):
    pass


@_status(0x1C, "illegal command code")
class IllegalCommand(DESFireStatusError):
    pass


@_status(0x1E, "integrity error (CRC or MAC does not match, or padding is invalid)")
class ChecksumRejected(DESFireStatusError, IntegrityError):
    """The card found the command's MAC, CRC or padding wrong."""


@_status(0x40, "no such key")
class NoSuchKey(DESFireStatusError):
    pass


@_status(0x7E, "length error")
class LengthError(DESFireStatusError, BoundsError):
    """The card found the command's length wrong (for its parameters, or for its MAC)."""


@_status(0x9D, "permission denied")
class PermissionDenied(DESFireStatusError, AccessError):
    """No key may do this here (a right of "never", frozen settings, the wrong level)."""


@_status(0x9E, "parameter error")
class ParameterError(DESFireStatusError):
    pass


@_status(0xA0, "application not found")
class ApplicationNotFound(DESFireStatusError):
    pass


@_status(0xA1, "application integrity error")
class ApplicationIntegrityError(DESFireStatusError):
    pass


@_status(0xAE, "authentication error")
class AuthenticationRejected(DESFireStatusError, AuthenticationError):
    """The card refused: the session is not authenticated with a key that grants the command,
    or the reader's proof in the handshake did not verify."""


@_status(0xAF, "additional frame expected")
class AdditionalFrame(DESFireStatusError):
    pass


@_status(0xBE, "boundary error")
class BoundaryError(DESFireStatusError, BoundsError):
    """Beyond the end of a file or record, or past a value file's limits."""


@_status(0xC1, "PICC integrity error")
class PICCIntegrityError(DESFireStatusError):
    pass


@_status(0xCA, "command aborted")
class CommandAborted(DESFireStatusError):
    pass


@_status(0xCD, "PICC disabled")
class PICCDisabled(DESFireStatusError):
    pass


@_status(0xCE, "count error (too many applications or files)")
class CountError(DESFireStatusError):
    pass


@_status(0xDE, "duplicate error")
class DuplicateError(DESFireStatusError):
    pass


@_status(0xEE, "EEPROM error")
class EEPROMError(DESFireStatusError):
    pass


@_status(0xF0, "file not found")
class FileNotFound(DESFireStatusError):
    pass


@_status(0xF1, "file integrity error")
class FileIntegrityError(DESFireStatusError):
    pass


def status_error(status: int, command: int | None = None) -> DESFireStatusError:
    """The named exception for a DESFire status byte (a plain DESFireStatusError if unknown)."""
    cls = _BY_STATUS.get(status, DESFireStatusError)
    return cls(status, command)


def status_class(status: int) -> type[DESFireStatusError]:
    return _BY_STATUS.get(status, DESFireStatusError)


class ISOStatusError(EkartaError):
    """An ISO 7816-4 command ended with a status word other than 90 00."""

    def __init__(self, sw: int, message: str | None = None):
        self.sw = sw
        super().__init__(message or f"ISO 7816 status word {sw:04X}")


# --- readers


class ReaderError(EkartaError):
    """A reader could not carry an exchange."""


class NoReaderError(ReaderError):
    """No reader matches, or the reader is gone."""


class NoCardError(ReaderError):
    """No card is in the field."""


class CardRemovedError(ReaderError):
    """The card left the field (or lost power) during or between exchanges."""


class ReaderTimeout(ReaderError):
    """The reader or the card did not answer in time."""


class UnknownReaderScheme(ReaderError, ValueError):
    """The reader URL names a scheme that no driver handles."""


# --- emulator


class EmulatorError(EkartaError):
    """The emulated card's state cannot be loaded, saved or used."""


# --- files


class FileRefused(EkartaError):
    """A file cannot be used as asked: an output that is also an input of the run, one that
    exists without leave to replace it, a directory that cannot be written."""


class FileInUse(FileRefused):
    """Another process holds the file (its advisory lock) and did not let go in time."""
