"""Operator commands for the licence signing keys.

    python -m services.permits.keys show               the ring: active and retired keys
    python -m services.permits.keys rotate KEY_ID      new active key; old licences still verify
    python -m services.permits.keys retire KEY_ID      compromised key: its licences stop verifying

Running services load the ring once: restart them after a rotation so they sign with the new
key (licences already issued keep verifying against the old public key either way).
"""

from __future__ import annotations

import argparse
import json

from services.permits.config import get_settings
from services.permits.credentials import IssuerKeyRing


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Licence signing keys")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("show", help="print the public keys and which one signs")
    rotate = sub.add_parser("rotate", help="create a new key and make it the signing key")
    rotate.add_argument("key_id", help="new key id, e.g. key-2027-1 (never reused)")
    retire = sub.add_parser("retire", help="refuse a compromised key's licences from now on")
    retire.add_argument("key_id")
    args = parser.parse_args(argv)
    settings = get_settings()
    directory, issuer = settings.licence_key_dir, settings.licence_issuer
    if args.command == "rotate":
        ring = IssuerKeyRing.rotate_directory(directory, issuer, args.key_id)
    else:
        ring = IssuerKeyRing.open_or_create(directory, issuer, settings.licence_initial_key_id)
        if args.command == "retire":
            ring.retire(args.key_id)
            ring.save_manifest(directory)
    print(json.dumps({"active": ring.active_kid, "jwks": ring.public_jwks()}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
