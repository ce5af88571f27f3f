"""Keystore and signing-key failures: every one an ekarta error, and a keystore's names its file."""

from __future__ import annotations

import base64
import json
import textwrap
from pathlib import Path

import pytest

from ekarta.cli import main
from ekarta.transit.errors import KeyFormatError
from ekarta.transit.security.keystore import FileKeyStore, KeyStoreError, create_keystore
from ekarta.transit.security.signing import CouponSigner, CouponVerifier

ED25519_OID = bytes.fromhex("06032b6570")  # 1.3.101.112
UNKNOWN_OID = bytes.fromhex("06032b657f")  # 1.3.101.127: no algorithm cryptography knows


def pem(kind: str, der: bytes) -> bytes:
    body = "\n".join(textwrap.wrap(base64.b64encode(der).decode(), 64))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n".encode()


def unknown_algorithm_pems() -> tuple[bytes, bytes]:
    """A private and a public key PEM whose algorithm identifier names an unknown algorithm."""
    from cryptography.hazmat.primitives import serialization

    signer = CouponSigner.generate("ed25519")
    private_der = serialization.load_pem_private_key(signer.to_pem(), None).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption())
    public_der = serialization.load_pem_public_key(signer.verifier.to_pem()[0]).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert ED25519_OID in private_der and ED25519_OID in public_der
    return (pem("PRIVATE KEY", private_der.replace(ED25519_OID, UNKNOWN_OID)),
            pem("PUBLIC KEY", public_der.replace(ED25519_OID, UNKNOWN_OID)))


def test_a_private_key_of_an_unknown_algorithm_is_a_key_format_error():
    private, _ = unknown_algorithm_pems()
    with pytest.raises(KeyFormatError, match="cannot load the private key"):
        CouponSigner.from_pem(private)


def test_a_public_key_of_an_unknown_algorithm_is_a_key_format_error():
    _, public = unknown_algorithm_pems()
    with pytest.raises(KeyFormatError, match="cannot load the public key"):
        CouponVerifier.from_pem(public)


@pytest.mark.parametrize("field", ["signing_key", "verify_keys"])
def test_a_keystore_with_a_key_of_an_unknown_algorithm_fails_in_one_line(
        field, tmp_path, capsys):
    path = tmp_path / "keys.json"
    create_keystore(path)
    document = json.loads(path.read_text())
    private, public = unknown_algorithm_pems()
    if field == "signing_key":
        document["signing_key"] = private.decode()
    else:
        document["verify_keys"] = [public.decode()]
    path.write_text(json.dumps(document))
    path.chmod(0o600)
    code = main(["card", "show", "--reader", "emulator:", "--keys", str(path)])
    _, err = capsys.readouterr()
    assert code == 1
    assert "Traceback" not in err
    assert err.startswith(f"ekarta: error: keystore {path}: cannot load the ")
    assert err.count("\n") == 1


def _edit(path: Path, change) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))
    path.chmod(0o600)


@pytest.mark.parametrize("change", [
    lambda d: d.update(format="other"),
    lambda d: d.update(system_id=7),
    lambda d: d.update(application=[]),
    lambda d: d["application"].update(cashier=d["application"]["load"]),
    lambda d: d.update(picc_master={"aes": "00", "version": 1}),
    lambda d: d.update(signing_key=5),
    lambda d: d.update(verify_keys="x"),
    lambda d: d.update(signing_key=pem("PRIVATE KEY", b"\0\0\0").decode()),
    lambda d: d.pop("signing_key"),
], ids=["format", "system_id", "application", "role", "picc", "signing-type", "verify-type",
        "signing-pem", "no-keys"])
def test_every_keystore_error_names_the_file(change, tmp_path):
    path = tmp_path / "keys.json"
    create_keystore(path)
    _edit(path, change)
    with pytest.raises(KeyStoreError) as info:
        FileKeyStore.load(path)
    assert str(info.value).startswith(f"keystore {path}: ")


def test_a_keystore_without_a_signing_key_says_which_one(tmp_path):
    path = tmp_path / "keys.json"
    create_keystore(path)

    def terminal_only(document):
        signer = CouponSigner.from_pem(document.pop("signing_key").encode())
        document["verify_keys"] = [signer.verifier.to_pem()[0].decode()]

    _edit(path, terminal_only)
    with pytest.raises(KeyStoreError, match=f"keystore {path} holds no coupon-signing key"):
        FileKeyStore.load(path).signer()
