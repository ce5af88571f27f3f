"""The reader registry: URL dispatch, errors, lazy drivers and the Reader base class."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import pytest

import ekarta.readers as readers
from ekarta.errors import ReaderError, UnknownReaderScheme
from ekarta.log import TRACE
from ekarta.readers import CardInfo, Reader, Transceiver, open_reader

SCHEME = "ekarta-test-loop"


class LoopbackReader(Reader):
    """A tiny real driver: the 'card' answers every APDU with the APDU reversed plus 91 00."""

    opened: list[LoopbackReader] = []

    def __init__(self, url: str, rest: str) -> None:
        super().__init__(url)
        self.rest = rest
        self.close_calls = 0
        LoopbackReader.opened.append(self)

    def transceive(self, apdu: bytes) -> bytes:
        self._trace(">>", apdu)
        response = bytes(reversed(apdu)) + b"\x91\x00"
        self._trace("<<", response)
        return response

    @property
    def card_present(self) -> bool:
        return not self.closed

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        self._card_info = CardInfo(uid=bytes.fromhex("04112233445566"), sak=0x20)
        return self._card_info

    def close(self) -> None:
        self.close_calls += 1
        super().close()


def open_loopback(rest: str) -> LoopbackReader:
    return LoopbackReader(f"{SCHEME}:{rest}", rest)


@pytest.fixture
def loop_scheme():
    readers.register_driver(SCHEME, open_loopback)
    yield SCHEME
    readers.unregister_driver(SCHEME)


def test_open_by_url_passes_rest_to_factory(loop_scheme):
    reader = open_reader(f"{loop_scheme}:some/where:with:colons")
    assert isinstance(reader, LoopbackReader)
    assert reader.rest == "some/where:with:colons"
    assert reader.url == f"{loop_scheme}:some/where:with:colons"
    assert reader.transceive(b"\x01\x02") == b"\x02\x01\x91\x00"


def test_scheme_is_case_insensitive(loop_scheme):
    assert isinstance(open_reader(f"{loop_scheme.upper()}:"), LoopbackReader)


def test_empty_rest_is_allowed(loop_scheme):
    assert open_reader(f"{loop_scheme}:").rest == ""


def test_registered_scheme_is_listed(loop_scheme):
    schemes = readers.available_schemes()
    assert loop_scheme in schemes
    assert "emulator" in schemes
    assert schemes == sorted(schemes)


def test_unknown_scheme_error_lists_known_schemes(loop_scheme):
    with pytest.raises(UnknownReaderScheme) as info:
        open_reader("nosuchscheme:whatever")
    message = str(info.value)
    assert "nosuchscheme" in message
    assert "emulator:" in message
    assert f"{loop_scheme}:" in message
    # catchable both as a reader error and as a plain ValueError
    with pytest.raises(ReaderError):
        open_reader("nosuchscheme:whatever")
    with pytest.raises(ValueError):
        open_reader("nosuchscheme:whatever")


@pytest.mark.parametrize("url", ["emulator", "", ":rest"])
def test_url_without_scheme_is_an_error(url):
    with pytest.raises(UnknownReaderScheme, match="no scheme") as info:
        open_reader(url)
    assert "emulator:" in str(info.value)


def test_invalid_registrations_are_refused():
    with pytest.raises(ValueError):
        readers.register_driver("1bad", open_loopback)
    with pytest.raises(ValueError):
        readers.register_driver("has space", open_loopback)
    with pytest.raises(ValueError):
        readers.register_driver("ok", "no_colon_here")
    with pytest.raises(TypeError):
        readers.register_driver("ok", 42)  # type: ignore[arg-type]
    assert "ok" not in readers.available_schemes()


def test_lazy_string_registration_imports_on_first_open(tmp_path, monkeypatch):
    module_name = "ekarta_test_lazy_driver"
    (tmp_path / f"{module_name}.py").write_text(
        textwrap.dedent(
            """
            from ekarta.readers.base import CardInfo, Reader

            class EchoReader(Reader):
                def transceive(self, apdu):
                    return apdu

                @property
                def card_present(self):
                    return True

                def wait_for_card(self, timeout=None):
                    return CardInfo()

            def open_echo(rest):
                return EchoReader("lazy:" + rest)
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module_name, raising=False)
    readers.register_driver("lazy", f"{module_name}:open_echo")
    try:
        assert "lazy" in readers.available_schemes()
        assert module_name not in sys.modules  # registering and listing import nothing
        reader = open_reader("lazy:x")
        assert module_name in sys.modules
        assert reader.url == "lazy:x"
        assert reader.transceive(b"\xaa") == b"\xaa"
        # the string was resolved to the callable it names, and that is what is kept
        resolved = readers._drivers["lazy"]
        assert callable(resolved)
        assert resolved is sys.modules[module_name].open_echo
    finally:
        readers.unregister_driver("lazy")
        sys.modules.pop(module_name, None)


def test_lazy_driver_that_cannot_be_imported_is_a_reader_error():
    readers.register_driver("broken", "ekarta_no_such_module_anywhere:open")
    try:
        with pytest.raises(ReaderError, match="cannot be loaded"):
            open_reader("broken:")
    finally:
        readers.unregister_driver("broken")


def test_lazy_driver_that_fails_as_it_loads_is_a_one_line_reader_error(tmp_path, monkeypatch):
    module_name = "ekarta_test_failing_driver"
    (tmp_path / f"{module_name}.py").write_text(
        "raise OSError('libfoo.so: cannot open shared object file\\nsecond line')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    readers.register_driver("failing", f"{module_name}:open")
    try:
        with pytest.raises(ReaderError) as info:
            open_reader("failing:")
    finally:
        readers.unregister_driver("failing")
        sys.modules.pop(module_name, None)
    assert str(info.value) == (f"the 'failing' reader driver ({module_name}:open) cannot be "
                               "loaded: libfoo.so: cannot open shared object file")
    assert isinstance(info.value.__cause__, OSError)


def test_lazy_driver_with_missing_attribute_is_a_reader_error():
    readers.register_driver("broken", "ekarta.log:no_such_factory")
    try:
        with pytest.raises(ReaderError, match="does not exist"):
            open_reader("broken:")
    finally:
        readers.unregister_driver("broken")


def test_importing_readers_imports_no_driver_dependencies():
    code = (
        "import sys, ekarta.readers, ekarta.readers.base\n"
        "heavy = {'smartcard', 'nfc', 'serial', 'ekarta.emulator'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    assert out.stdout.strip() == "[]"


def test_the_emulator_driver_is_found_by_name_not_imported_by_readers():
    code = (
        "import sys\n"
        "from ekarta.readers import open_reader\n"
        "print(sorted(m for m in sys.modules if m.startswith('ekarta.emulator')))\n"
        "with open_reader('emulator:') as reader:\n"
        "    print(type(reader).__module__, reader.transceive(bytes.fromhex('906E000000')).hex())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    before, opened = out.stdout.splitlines()
    assert before == "[]"
    assert opened == "ekarta.emulator.reader 001f009100"


def test_context_manager_closes(loop_scheme):
    with open_reader(f"{loop_scheme}:ctx") as reader:
        assert not reader.closed
        assert reader.card_present
    assert reader.closed
    assert reader.close_calls == 1
    assert not reader.card_present


def test_context_manager_closes_on_error(loop_scheme):
    with pytest.raises(RuntimeError), open_reader(f"{loop_scheme}:boom") as reader:
        raise RuntimeError("boom")
    assert reader.closed


def test_card_info_and_repr(loop_scheme):
    reader = open_reader(f"{loop_scheme}:r")
    assert reader.card_info is None
    info = reader.wait_for_card(timeout=0.1)
    assert reader.card_info == info
    assert info.uid == bytes.fromhex("04112233445566")
    assert info.atr is None and info.ats is None and info.atqa is None
    with pytest.raises(AttributeError):
        info.sak = 0  # type: ignore[misc]  # frozen
    assert repr(reader) == f"<LoopbackReader '{loop_scheme}:r'>"
    reader.close()
    assert reader.card_info is None
    assert repr(reader) == f"<LoopbackReader '{loop_scheme}:r' closed>"


def test_reader_is_abstract_and_a_transceiver(loop_scheme):
    with pytest.raises(TypeError):
        Reader("x:")  # type: ignore[abstract]
    assert isinstance(open_reader(f"{loop_scheme}:"), Transceiver)


def test_frames_are_traced_below_debug(loop_scheme, caplog):
    reader = open_reader(f"{loop_scheme}:t")
    with caplog.at_level(logging.DEBUG, logger=__name__):
        reader.transceive(b"\x90\x60")
    assert not caplog.records
    with caplog.at_level(TRACE, logger=__name__):
        reader.transceive(b"\x90\x60")
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [f"{loop_scheme}:t >> 90 60", f"{loop_scheme}:t << 60 90 91 00"]
    assert all(r.levelname == "TRACE" for r in caplog.records)
