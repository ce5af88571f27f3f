"""ekarta side by side with the other DESFire clients in Python, on the same emulated card.

The peers are ``desfire`` 0.2 and ``python-desfire`` 0.1.5 from the package index.  Both install
the top-level package ``desfire``, so they cannot share an environment, and neither is ever a
dependency of the project: each is installed with ``pip install --target`` into a folder of its
own under ``--cache`` (``~/.cache/ekarta-bench/peers/NAME-VERSION``; nothing is fetched when it is
there already).

Every system runs in a subprocess of its own (one per peer, one for ekarta), each with the peer's
folder first on its path, behind an adapter of a few lines to the same emulated card: the parent
personalises one card with ekarta and stores its image, and every worker loads that image into an
in-process emulator (``emulator:`` reader).  The card is in-process rather than served, because
a served card would put a socket and a second process into every exchange, costing far more than
the client-side work being compared; in-process, every system pays the same card cost, which is
measured and printed.

The workers take turns: for every round, every operation, every system in a rotating order runs
a batch of ``--reps`` timed repetitions (untimed preparation first: selecting, authenticating).
For every operation the table shows each system's median and p95 wall-clock microseconds, the
card's own share (time inside the emulated reader, the same card work for every system), the
client's share (the rest: the library, its adapter and its crypto), and each peer's ratio to
ekarta, of the total and of the client share.  An operation a peer has no API for is shown as
such, with the reason.

Operations: GetVersion; SelectApplication; each authentication (AES, ISO with DES, 2K3DES and
3K3DES keys; legacy and EV2First, which only ekarta speaks); reading 64 bytes plain, MAC'd and
encrypted; writing 32 bytes plain, MAC'd and encrypted; the validator-like transaction of
``benchmarks/transaction.py`` (select, AES authentication, 64-byte encrypted read, 32-byte MAC'd
record, MAC'd debit, commit).  The MAC'd and encrypted reads and writes run in an AES session;
the plain ones without a session, on a file free for all.

Notes on the peers: ``desfire`` 0.2 has no authentication and no GetVersion, reads whole files
and sends application IDs most significant byte first (its adapter hands it the AID byte-swapped,
so that the card sees the right bytes).  ``python-desfire`` 0.1.5 sends native frames (its
adapter wraps them in ISO 7816 APDUs, as a PC/SC reader would need anyway), reads in pieces of
48 bytes (64 bytes are two commands) and has no record, value or transaction commands.

The host's speed drifts: compare the systems within one run, never across runs.

    python benchmarks/peers.py [--rounds N] [--reps N] [--only OPERATION ...] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCHMARKS.parent), str(BENCHMARKS)]

import transaction as validator  # noqa: E402  (benchmarks/transaction.py)

from ekarta.desfire import AccessRights, DESFire, Key, KeySettings  # noqa: E402
from ekarta.desfire.crypto import crc32  # noqa: E402
from ekarta.emulator import VirtualCard  # noqa: E402
from ekarta.emulator.reader import EmulatorReader  # noqa: E402

PEERS = {"python-desfire": "0.1.5", "desfire": "0.2"}
SYSTEMS = ["ekarta", *PEERS]

# --- the card -------------------------------------------------------------------------------------

AES_APP = validator.AID
DES_APP, TDES3_APP = 0x4B4153, 0x4B4154
AES_KEY = validator.APP_KEY
TDES2_KEY = Key.tdes2(bytes.fromhex("00112233445566778899AABBCCDDEEFF"))
DES_KEY = Key.des(bytes.fromhex("0123456789ABCDEF"))
TDES3_KEY = Key.tdes3(bytes.fromhex("00112233445566778899AABBCCDDEEFF0011223344556677"))
PICC_KEY = Key.default("des")
PLAIN_FILE, MAC_FILE, FULL_FILE = 4, 5, 6
WRITE = bytes(range(0xA0, 0xC0))  # the 32 bytes every write puts at offset 0


def _file_content() -> bytes:
    """64 bytes that python-desfire can read back encrypted: it strips trailing zero bytes to
    find the CRC, so neither the data of a 48-byte piece nor its CRC may end in 0x00."""
    for start in range(1, 256):
        data = bytes((start + i) % 256 or 1 for i in range(64))
        pieces = (data[:48], data[48:])
        if all(p[-1] and crc32(p + b"\x00")[-1] for p in pieces):
            return data
    raise AssertionError("no content fits")


CONTENT = _file_content()


def personalise(path: Path) -> None:
    """The card every system talks to: the validator's application (AES keys, plus files free
    for all, MAC'd and encrypted), an application of DES-family keys, one of 3K3DES keys."""
    reader = EmulatorReader(card=VirtualCard.new(uid=bytes.fromhex("04A1B2C3D4E5F6")))
    validator.personalise(reader)
    card = DESFire(reader)
    card.select_application(AES_APP)
    card.authenticate(0, Key.aes(bytes(16)), "aes")
    rights = AccessRights(read=1, write=1, read_write=1, change=0)
    card.create_std_data_file(PLAIN_FILE, 64, comm="plain", access=AccessRights.free())
    card.create_std_data_file(MAC_FILE, 64, comm="mac", access=rights)
    card.create_std_data_file(FULL_FILE, 64, comm="full", access=rights)
    card.authenticate(1, AES_KEY, "aes")
    for file_no, comm in ((PLAIN_FILE, "plain"), (MAC_FILE, "mac"), (FULL_FILE, "full")):
        card.write_data(file_no, CONTENT, comm=comm)
    for aid, family, keys in ((DES_APP, "des", (TDES2_KEY, DES_KEY)),
                              (TDES3_APP, "3k3des", (TDES3_KEY,))):
        card.select_application(0)
        card.create_application(aid, KeySettings(), key_count=len(keys) + 1, key_type=family)
        card.select_application(aid)
        card.authenticate(0, Key.default(keys[0].type), "iso")
        for key_no, key in enumerate(keys, start=1):
            card.change_key(key_no, key, Key.default(key.type))
    card.select_application(0)
    reader.card.save(path)


# --- the operations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    name: str
    #: the application selected (untimed) before a batch, None for the PICC level
    app: int | None = None
    #: authenticate (untimed) with the AES key before a batch
    session: bool = False


OPERATIONS = [
    Operation("GetVersion"),
    Operation("SelectApplication"),
    Operation("Authenticate AES", AES_APP),
    Operation("Authenticate ISO DES", DES_APP),
    Operation("Authenticate ISO 2K3DES", DES_APP),
    Operation("Authenticate ISO 3K3DES", TDES3_APP),
    Operation("Authenticate legacy DES", DES_APP),
    Operation("Authenticate EV2First", AES_APP),
    Operation("ReadData 64 B plain", AES_APP),
    Operation("ReadData 64 B MAC", AES_APP, session=True),
    Operation("ReadData 64 B full", AES_APP, session=True),
    Operation("WriteData 32 B plain", AES_APP),
    Operation("WriteData 32 B MAC", AES_APP, session=True),
    Operation("WriteData 32 B full", AES_APP, session=True),
    Operation("validator transaction"),
]
BY_NAME = {op.name: op for op in OPERATIONS}


class Unsupported(Exception):
    """The system has no API for the operation."""


# --- adapters (each imported only in its own worker) ----------------------------------------------


class TimedReader:
    """The emulated reader, timing the card's share (every exchange, adapter conversions aside)."""

    def __init__(self, reader: EmulatorReader) -> None:
        self.reader = reader
        self.card_time = 0.0

    def transceive(self, apdu: bytes) -> bytes:
        start = time.perf_counter()
        response = self.reader.transceive(apdu)
        self.card_time += time.perf_counter() - start
        return response


class EkartaSystem:
    def __init__(self, timed: TimedReader) -> None:
        self.timed = timed
        self.card = DESFire(timed)
        auths = {"Authenticate AES": (1, AES_KEY, "aes"),
                 "Authenticate ISO DES": (2, DES_KEY, "iso"),
                 "Authenticate ISO 2K3DES": (1, TDES2_KEY, "iso"),
                 "Authenticate ISO 3K3DES": (1, TDES3_KEY, "iso"),
                 "Authenticate legacy DES": (2, DES_KEY, "legacy"),
                 "Authenticate EV2First": (1, AES_KEY, "ev2first")}
        card = self.card
        self.actions: dict[str, Callable[[], object]] = {
            "GetVersion": card.get_version,
            "SelectApplication": lambda: card.select_application(AES_APP),
            "ReadData 64 B plain": lambda: card.read_data(PLAIN_FILE, 0, 64, comm="plain"),
            "ReadData 64 B MAC": lambda: card.read_data(MAC_FILE, 0, 64, comm="mac"),
            "ReadData 64 B full": lambda: card.read_data(FULL_FILE, 0, 64, comm="full"),
            "WriteData 32 B plain": lambda: card.write_data(PLAIN_FILE, WRITE, comm="plain"),
            "WriteData 32 B MAC": lambda: card.write_data(MAC_FILE, WRITE, comm="mac"),
            "WriteData 32 B full": lambda: card.write_data(FULL_FILE, WRITE, comm="full"),
            "validator transaction": lambda: validator.transaction(timed),
        }
        for name, args in auths.items():
            self.actions[name] = lambda args=args: card.authenticate(*args)

    def prepare(self, op: Operation) -> Callable[[], object]:
        self.card.select_application(op.app or 0)
        if op.session:
            self.card.authenticate(1, AES_KEY, "aes")
        return self.actions[op.name]


class NativeDevice:
    """python-desfire's device: native frames (``CMD DATA``, answered ``STATUS DATA``) as a list
    of ints, wrapped in ISO 7816 APDUs for the emulated reader."""

    def __init__(self, timed: TimedReader) -> None:
        self.timed = timed

    def transceive(self, frame: list[int]) -> list[int]:
        data = bytes(frame[1:])
        apdu = bytes([0x90, frame[0], 0, 0, len(data)]) + data + b"\x00" if data else \
            bytes([0x90, frame[0], 0, 0, 0])
        response = self.timed.transceive(apdu)
        return [response[-1], *response[:-2]]


class PythonDesfireSystem:
    def __init__(self, timed: TimedReader) -> None:
        from desfire import DESFire as PeerDESFire
        from desfire.enums import DESFireCommunicationMode, DESFireKeyType
        from desfire.key import DESFireKey
        from desfire.schemas import FileSettings
        from desfire.schemas import KeySettings as PeerKeySettings

        self.card = PeerDESFire(NativeDevice(timed))
        self.mode = DESFireCommunicationMode
        types = {"aes": DESFireKeyType.DF_KEY_AES, "des": DESFireKeyType.DF_KEY_2K3DES,
                 "2k3des": DESFireKeyType.DF_KEY_2K3DES, "3k3des": DESFireKeyType.DF_KEY_3K3DES}

        def key(k: Key) -> Callable[[], object]:
            # the library turns the key object into the session key: a fresh one per run
            return lambda: DESFireKey(PeerKeySettings(key_type=types[k.type.value]), k.data)

        self.keys = {"Authenticate AES": (1, key(AES_KEY)),
                     "Authenticate ISO DES": (2, key(DES_KEY)),
                     "Authenticate ISO 2K3DES": (1, key(TDES2_KEY)),
                     "Authenticate ISO 3K3DES": (1, key(TDES3_KEY))}
        self.settings = {comm: FileSettings(encryption=comm, file_size=64)
                         for comm in DESFireCommunicationMode}
        card, mode, settings = self.card, self.mode, self.settings
        self.actions: dict[str, Callable[[], object]] = {
            "GetVersion": card.get_card_version,
            "SelectApplication": lambda: card.select_application(_aid_list(AES_APP)),
            "ReadData 64 B plain": lambda: card.read_file_data(PLAIN_FILE, settings[mode.PLAIN]),
            "ReadData 64 B MAC": lambda: card.read_file_data(MAC_FILE, settings[mode.CMAC]),
            "ReadData 64 B full":
                lambda: card.read_file_data(FULL_FILE, settings[mode.ENCRYPTED]),
            "WriteData 32 B plain":
                lambda: card.write_file_data(PLAIN_FILE, 0, mode.PLAIN, list(WRITE)),
            "WriteData 32 B MAC":
                lambda: card.write_file_data(MAC_FILE, 0, mode.CMAC, list(WRITE)),
            "WriteData 32 B full":
                lambda: card.write_file_data(FULL_FILE, 0, mode.ENCRYPTED, list(WRITE)),
        }
        self.unsupported = {
            "Authenticate legacy DES": "no legacy (0x0A) authentication",
            "Authenticate EV2First": "no EV2 authentication",
            "validator transaction": "no WriteRecord, Debit or CommitTransaction",
        }

    def prepare(self, op: Operation) -> Callable[[], object]:
        if op.name in self.unsupported:
            raise Unsupported(self.unsupported[op.name])
        self.card.select_application(_aid_list(op.app or 0))
        if op.session:
            self.card.authenticate(1, self.keys["Authenticate AES"][1]())
        if op.name in self.keys:
            key_no, make_key = self.keys[op.name]
            return _Prepared(lambda key: self.card.authenticate(key_no, key), make_key)
        return self.actions[op.name]


class _Prepared:
    """An action whose argument is made, untimed, before each run (a peer's key object)."""

    action: Callable[[object], object]
    make: Callable[[], object]

    def __init__(self, action: Callable[[object], object], make: Callable[[], object]) -> None:
        self.action, self.make = action, make


def _aid_list(aid: int) -> list[int]:
    return list(aid.to_bytes(3, "little"))


class DesfireSystem:
    def __init__(self, timed: TimedReader) -> None:
        from desfire.device import Device
        from desfire.protocol import DESFire as PeerDESFire

        class ListDevice(Device):
            def transceive(self, apdu: list[int]) -> bytes:
                return timed.transceive(bytes(apdu))

        card = PeerDESFire(ListDevice())
        self.card = card
        # it sends the AID most significant byte first: byte-swapped, the card gets it right
        self.swapped = lambda aid: int.from_bytes(aid.to_bytes(3, "little"), "big")
        self.actions: dict[str, Callable[[], object]] = {
            "SelectApplication": lambda: card.select_application(self.swapped(AES_APP)),
            "ReadData 64 B plain": lambda: card.read_data_file(PLAIN_FILE),
            "WriteData 32 B plain": lambda: card.write_data_file(PLAIN_FILE, list(WRITE)),
        }

    def prepare(self, op: Operation) -> Callable[[], object]:
        if op.name not in self.actions:
            raise Unsupported("no authentication" if op.session or "Auth" in op.name
                              or op.name == "validator transaction" else
                              f"no {op.name.split()[0]}")
        self.card.select_application(self.swapped(op.app or 0))
        return self.actions[op.name]


def serve(system: str, card_path: str) -> None:
    """A worker: answer ``{"op": NAME, "reps": N}`` lines with the times of N runs."""
    # the peers log errors they meet (python-desfire's MAC'd write): kept off the table
    logging.getLogger().addHandler(logging.NullHandler())
    timed = TimedReader(EmulatorReader(card=VirtualCard.load(card_path)))
    adapter = {"ekarta": EkartaSystem, "python-desfire": PythonDesfireSystem,
               "desfire": DesfireSystem}[system](timed)
    print(json.dumps({"ready": system}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        op = BY_NAME[request["op"]]
        try:
            action = adapter.prepare(op)
        except Unsupported as exc:
            print(json.dumps({"unsupported": str(exc)}), flush=True)
            continue
        try:
            total, card = _runs(timed, action, request["reps"])
        except Exception as exc:
            if system == "ekarta":
                raise
            # a peer that has the API but fails on the card is shown failing, not measured
            print(json.dumps({"unsupported": f"fails: {type(exc).__name__}: {exc}"}), flush=True)
            continue
        print(json.dumps({"total": total, "card": card}), flush=True)


def _runs(timed: TimedReader, action: Callable[[], object] | _Prepared,
          reps: int) -> tuple[list[float], list[float]]:
    """The wall-clock and card microseconds of ``reps`` runs of ``action``."""
    total, card = [], []
    for _ in range(reps):
        if isinstance(action, _Prepared):
            argument = action.make()
            timed.card_time, start = 0.0, time.perf_counter()
            action.action(argument)
        else:
            timed.card_time, start = 0.0, time.perf_counter()
            action()
        total.append((time.perf_counter() - start) * 1e6)
        card.append(timed.card_time * 1e6)
    return total, card


# --- the parent -----------------------------------------------------------------------------------


def install(name: str, version: str, cache: Path) -> Path:
    """The folder holding ``name==version`` (installed there with pip on first use)."""
    target = cache / f"{name}-{version}"
    marker = target / ".installed"
    if not marker.exists():
        print(f"installing {name}=={version} into {target}", file=sys.stderr)
        done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet",
                               "--disable-pip-version-check", "--target", str(target),
                               "--upgrade", f"{name}=={version}"], check=False)
        if done.returncode:
            raise SystemExit(f"could not install {name}=={version} into {target} (pip said why)")
        marker.write_text(f"{name}=={version}\n")
    return target


class Worker:
    def __init__(self, system: str, card_path: Path, path: Path | None) -> None:
        env = dict(os.environ)
        if path is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(path), env.get("PYTHONPATH", "")])
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--serve", system, str(card_path)], env=env,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self._read()

    def _read(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit("a benchmark worker ended early (see its error above)")
        return json.loads(line)

    def run(self, op: str, reps: int) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, "reps": reps}) + "\n")
        self.proc.stdin.flush()
        return self._read()

    def close(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        self.proc.wait()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]


def report(results: dict[str, dict[str, dict]], operations: list[Operation], label) -> None:
    print(f"{'':24s} {'median':>8s} {'p95':>8s} {'card':>8s} {'client':>8s}   peer / ekarta")
    print(f"{'':24s} {'µs':>8s} {'µs':>8s} {'µs':>8s} {'µs':>8s}   total  client")
    for op in operations:
        print(op.name)
        base = results["ekarta"].get(op.name)
        for system in SYSTEMS:
            got = results[system].get(op.name)
            if got is None:
                continue
            if "unsupported" in got:
                print(f"  {label[system]:22s} cannot run it: {got['unsupported']}")
                continue
            total, card = got["total"], got["card"]
            client = [t - c for t, c in zip(total, card, strict=True)]
            line = (f"  {label[system]:22s} {statistics.median(total):8.1f} {p95(total):8.1f} "
                    f"{statistics.median(card):8.1f} {statistics.median(client):8.1f}")
            if system != "ekarta" and base is not None and "total" in base:
                base_client = [t - c for t, c in zip(base["total"], base["card"], strict=True)]
                line += (f"   {statistics.median(total) / statistics.median(base['total']):5.2f}"
                         f"  {statistics.median(client) / statistics.median(base_client):6.2f}")
            print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=12, help="rounds (12)")
    parser.add_argument("--reps", type=int, default=25,
                        help="timed runs of an operation per system and round (25)")
    parser.add_argument("--only", nargs="+", metavar="OPERATION", choices=list(BY_NAME),
                        help="only these operations (names as in the table)")
    parser.add_argument("--cache", type=Path,
                        default=Path.home() / ".cache" / "ekarta-bench" / "peers",
                        help="where the peers are installed (~/.cache/ekarta-bench/peers)")
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(*args.serve)
        return
    operations = [BY_NAME[name] for name in args.only] if args.only else OPERATIONS
    paths = {name: install(name, version, args.cache) for name, version in PEERS.items()}
    label = {"ekarta": "ekarta", **{name: f"{name} {v}" for name, v in PEERS.items()}}
    with tempfile.TemporaryDirectory() as tmp:
        card_path = Path(tmp) / "card.json"
        personalise(card_path)
        workers = {system: Worker(system, card_path, paths.get(system)) for system in SYSTEMS}
        results: dict[str, dict[str, dict]] = {system: {} for system in SYSTEMS}
        try:
            for i in range(args.rounds):
                for op in operations:
                    order = SYSTEMS[i % len(SYSTEMS):] + SYSTEMS[:i % len(SYSTEMS)]
                    for system in order:
                        known = results[system].get(op.name)
                        if known is not None and "unsupported" in known:
                            continue
                        got = workers[system].run(op.name, args.reps)
                        if "unsupported" in got:
                            results[system][op.name] = got
                        else:
                            slot = results[system].setdefault(op.name, {"total": [], "card": []})
                            slot["total"] += got["total"]
                            slot["card"] += got["card"]
        finally:
            for worker in workers.values():
                worker.close()
    print(f"{args.rounds} rounds x {args.reps} runs per operation and system, systems taking "
          f"turns; wall-clock µs; card = inside the emulated reader, client = the rest")
    report(results, operations, label)


if __name__ == "__main__":
    main()
