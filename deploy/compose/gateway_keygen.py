"""Create the gateway's Ed25519 token-signing key at GATEWAY_SIGNING_KEY_PATH unless it exists.

Run once by compose (service `gateway-keygen`) into a volume only the gateway mounts, so that no
key is ever part of the image or the repository. An existing key is kept: replacing it would
invalidate every token the gateway has issued.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def main() -> int:
    path = Path(os.environ["GATEWAY_SIGNING_KEY_PATH"])
    if path.exists():
        print(f"{path}: kept")
        return 0
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written under a temporary name and renamed: a crash never leaves half a key behind.
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
    tmp.replace(path)
    print(f"{path}: created")
    return 0


if __name__ == "__main__":
    sys.exit(main())
