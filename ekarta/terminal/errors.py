"""What goes wrong on a terminal, grouped by meaning: its directory and configuration
(:class:`TerminalConfigError`), its local store (:class:`TerminalStoreError`), and its talk with
the office (:class:`OfficeError`: unreachable, refusing the token or the role, answering what
the contract does not allow).  A refused sync response is
:class:`~ekarta.sync.envelope.EnvelopeRejected`, raised where the envelope is opened."""

from __future__ import annotations

from ekarta.errors import EkartaError

__all__ = [
    "FeedStalled",
    "LeaseRefused",
    "OfficeError",
    "OfficeProtocolError",
    "OfficeUnreachable",
    "RoleRefused",
    "TerminalConfigError",
    "TerminalError",
    "TerminalStoreError",
    "TokenRefused",
]


class TerminalError(EkartaError):
    """A terminal cannot do what was asked."""


class TerminalConfigError(TerminalError):
    """The terminal directory or its configuration cannot be made or used."""


class TerminalStoreError(TerminalError):
    """The terminal's local store cannot be opened or is not one."""


class OfficeError(TerminalError):
    """The office did not do what the terminal asked."""


class OfficeUnreachable(OfficeError):
    """No answer from the office: the network, the address, a timeout or a server error."""


class TokenRefused(OfficeError):
    """The office does not know the terminal's token, or revoked it (HTTP 401)."""


class RoleRefused(OfficeError):
    """The terminal's role may not use what it asked for (HTTP 403)."""


class OfficeProtocolError(OfficeError):
    """The office answered something the sync contract does not allow."""


class FeedStalled(OfficeProtocolError):
    """A feed announced more pages but did not move on from a cursor already asked for."""


class LeaseRefused(OfficeError):
    """The office gave the action's lease to no one, or to another device (HTTP 404, 409,
    410): ``status`` says which."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status
