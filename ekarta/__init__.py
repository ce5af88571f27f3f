"""ekarta: a toolkit for contactless transit e-cards on MIFARE DESFire.

The package holds a complete DESFire EV1/EV2 protocol layer (:mod:`ekarta.desfire`), a
software DESFire card emulator (:mod:`ekarta.emulator`), reader drivers chosen by URL
(:mod:`ekarta.readers`), the transit application's coupon codec and tariff rules
(:mod:`ekarta.transit`), the card number's barcode (:mod:`ekarta.barcode`) and the terminal apps
(:mod:`ekarta.terminal`).  Every error ekarta raises on purpose derives from :class:`EkartaError`.

Importing ``ekarta`` is cheap: subpackages are imported only when used, and ``EkartaError`` on
first use too, so that the ``ekarta`` command's entry point (:mod:`ekarta.__main__`) catches an
interrupt from the moment it starts.
"""

TYPE_CHECKING = False  # typing itself takes milliseconds to import
if TYPE_CHECKING:
    from ekarta.errors import EkartaError

__version__ = "0.1.0"

__all__ = ["EkartaError", "__version__"]


def __getattr__(name: str) -> type:
    if name == "EkartaError":
        from ekarta.errors import EkartaError

        return EkartaError
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
