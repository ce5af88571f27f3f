"""The exception hierarchy of ekarta.

Everything ekarta raises on purpose derives from :class:`EkartaError`.  DESFire status codes map to
named subclasses of :class:`DESFireStatusError` that keep the raw status byte, so callers can catch
by meaning (``except PermissionDenied``) or inspect the code (``err.status``).
"""

from __future__ import annotations

from typing import ClassVar


class EkartaError(Exception):
    """Root of every error ekarta raises deliberately."""


# --- protocol layer


class ProtocolError(EkartaError):
    """The peer sent something that breaks the DESFire or ISO 7816 protocol."""


class MalformedMessage(ProtocolError):
    """A message is too short, too long or otherwise not what the command defines."""


class MalformedResponse(MalformedMessage):
    """A response from the card is too short, too long or otherwise malformed."""


class IntegrityCheckFailed(ProtocolError):
    """A MAC, CMAC or CRC did not verify, or was missing where the session requires one."""


class AuthenticationFailed(ProtocolError):
    """The card's proof during authentication did not match (wrong key, or a forged card)."""


class NotAuthenticated(EkartaError):
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


def _status(code: int, description: str):
    def register(cls: type[DESFireStatusError]) -> type[DESFireStatusError]:
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
class IntegrityError(DESFireStatusError):
    pass


@_status(0x40, "no such key")
class NoSuchKey(DESFireStatusError):
    pass


@_status(0x7E, "length error")
class LengthError(DESFireStatusError):
    pass


@_status(0x9D, "permission denied")
class PermissionDenied(DESFireStatusError):
    pass


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
class AuthenticationError(DESFireStatusError):
    pass


@_status(0xAF, "additional frame expected")
class AdditionalFrame(DESFireStatusError):
    pass


@_status(0xBE, "boundary error")
class BoundaryError(DESFireStatusError):
    pass


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
