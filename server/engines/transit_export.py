"""transit/export/:type/:name[/:version]: key material of exportable keys, public keys of any.

Encodings follow Vault's path_export.go, format by format (PKCS #1 or SEC 1 PEM by default,
PKCS #8 for der/pem, base64 raw for symmetric and Ed25519 keys), including which PEM texts
keep their final newline. Secret material is only ever produced for keys created with
exportable=true (or configured so, which cannot be undone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptography.hazmat.primitives import serialization

from server.engines.transit_encoding import b64encode, go_atoi
from server.engines.transit_errors import TransitError
from server.engines.transit_key import KeyVersion, TransitKey
from server.engines.transit_lifecycle import DESTROYED
from server.engines.transit_lifecycle_kcv import kcv_algorithm, version_kcv
from server.errors import BadRequestError
from server.request import Request
from server.routing import Reply, logical

if TYPE_CHECKING:
    import re

    from server.engines.transit import TransitEngine

EXPORT_TYPES = ("encryption-key", "signing-key", "hmac-key", "public-key", "certificate-chain")
EXPORT_FORMATS = ("", "raw", "der", "pem")
_PEM, _DER = serialization.Encoding.PEM, serialization.Encoding.DER
_PKCS8, _NO_PASSWORD = serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
_SPKI = serialization.PublicFormat.SubjectPublicKeyInfo


async def export_key(engine: "TransitEngine", req: Request, match: "re.Match[str]") -> Reply:
    export_type, version_text = match["type"], match["version"] or ""
    output = req.query.get("format", "")
    if export_type not in EXPORT_TYPES:
        raise BadRequestError(f"invalid export type: {export_type}")
    if output not in EXPORT_FORMATS:
        raise BadRequestError(f"invalid format: {output}")
    key = engine.store.get(match["name"])
    if key is None:
        return Reply(404, {"errors": []})
    if not key.exportable and export_type not in ("public-key", "certificate-chain"):
        raise BadRequestError("private key material is not exportable")
    key.require_usable()
    kt = key.type
    if export_type == "encryption-key" and not kt.supports_encryption:
        raise BadRequestError("encryption not supported for the key")
    if export_type == "signing-key" and not kt.supports_signing:
        raise BadRequestError("signing not supported for the key")
    if export_type == "certificate-chain" and not kt.supports_signing:
        raise BadRequestError("certificate chain not supported for keys that do not support signing")
    if not version_text:
        numbers = sorted(n for n in key.versions if n >= key.min_decryption_version)
    else:
        number = key.latest_version if version_text == "latest" else go_atoi(version_text.removeprefix("v"))
        if number is None:
            raise BadRequestError("invalid key version")
        if number < key.min_decryption_version:
            raise BadRequestError("version for export is below minimum decryption version")
        if number not in key.versions:
            raise BadRequestError("version does not exist or cannot be found")
        numbers = [number]
    if any(key.versions[n].life.state == DESTROYED for n in numbers):
        if version_text:
            raise BadRequestError("key version is destroyed")
        numbers = [n for n in numbers if key.versions[n].life.state != DESTROYED]
    exported = {str(n): export_version(key, key.versions[n], export_type, output) for n in numbers}
    # strongroom addition: each exported version's key check value (transit_lifecycle_kcv)
    kcvs = {str(n): version_kcv(key, key.versions[n]) for n in numbers}
    return logical(req, {"name": key.name, "type": kt.name, "keys": exported, "kcvs": kcvs,
                         "kcv_algorithm": kcv_algorithm(kt)})


def export_version(key: TransitKey, entry: KeyVersion, export_type: str, output: str) -> str:
    """One version's material in the requested encoding (Vault's getExportKey)."""
    family = key.type.family
    if export_type == "certificate-chain":
        raise TransitError("selected key version does not have a certificate chain imported")
    if export_type == "hmac-key":
        if output in ("der", "pem"):
            raise TransitError("unknown format for HMAC key; supported values are `` or `raw`")
        return b64encode(entry.hmac_key.view()) if entry.hmac_key is not None else ""
    if export_type == "encryption-key" and family == "aead":
        if output in ("der", "pem"):
            raise TransitError("unknown format for HMAC key; supported values are `` or `raw`")  # sic, Vault's text
        return b64encode(entry.secret.view()) if entry.secret is not None else ""
    if export_type in ("encryption-key", "signing-key") and family in ("rsa", "ecdsa", "ed25519"):
        return _private(key, entry, output)
    if export_type == "public-key" and family in ("rsa", "ecdsa", "ed25519"):
        return _public(key, entry, output)
    raise TransitError(f"unknown key type {key.type.name} for export type {export_type}")


def _refuse_raw(family: str, output: str) -> None:
    if output == "raw":
        label = "rsa" if family == "rsa" else "ec"
        raise TransitError(f"unknown key format for {label} key; supported values are ``, `der`, or `pem`")


def _private(key: TransitKey, entry: KeyVersion, output: str) -> str:
    """RSA: PKCS #1 PEM by default; EC: SEC 1 PEM; Ed25519: Go's 64 raw bytes; der and pem
    are PKCS #8. A version imported as a public key alone exports as ""."""
    family = key.type.family
    if family == "ed25519":
        if entry.has_private and output in ("", "raw"):
            return b64encode(entry.secret.view())  # type: ignore[union-attr]
    else:
        _refuse_raw(family, output)
    if not entry.has_private:
        return ""
    private: Any = entry.private_key(key.type)
    if output == "der":
        return b64encode(private.private_bytes(_DER, _PKCS8, _NO_PASSWORD))
    form = _PKCS8 if output == "pem" else serialization.PrivateFormat.TraditionalOpenSSL
    pem = private.private_bytes(_PEM, form, _NO_PASSWORD).decode("ascii")
    return pem if family == "rsa" else pem.strip()  # Vault trims every PEM but RSA's


def _public(key: TransitKey, entry: KeyVersion, output: str) -> str:
    """PKIX public keys (der: base64 DER, else PEM); Ed25519's default is its raw 32 bytes."""
    family = key.type.family
    if family == "ed25519" and output in ("", "raw"):
        return entry.public.strip()
    _refuse_raw(family, output)
    public: Any = entry.public_key(key.type)
    if output == "der":
        return b64encode(public.public_bytes(_DER, _SPKI))
    pem = public.public_bytes(_PEM, _SPKI).decode("ascii")
    return pem if family == "rsa" else pem.strip()
