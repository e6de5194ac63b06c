"""CPU time to open, or to refuse, a provisioning certificate (PKCS#12) at the limits.

    .venv/bin/python bench/pfx_bench.py [--repeat 5]

Prints the process CPU time (best of `--repeat`) of `profiles.pfx.decrypt` for:
- files real tools write (OpenSSL 3, Windows/OpenSSL 1.x style, Java 8 keytool's counts);
- the costliest file the limits accept in practice: 3DES PKCS#12 PBE (whose KDF the inspection runs
  in Python) at 50,000 iterations, which uses up `MAX_INSPECTION_WORK`;
- refusals: 2^31-1 iterations in the MAC, and in a key hidden inside encrypted contents that
  themselves cost as much as the limits allow to open (the slowest refusal there is).
Nothing here needs a database or Vault.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rps_site.settings_test")

from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.ciphers import Cipher, modes  # noqa: E402
from cryptography.hazmat.primitives.padding import PKCS7  # noqa: E402
from cryptography.hazmat.primitives.serialization import pkcs12  # noqa: E402

from profiles import pfx  # noqa: E402
from profiles.pkcs12_inspection import MAX_DERIVATION_WORK, MAX_INSPECTION_WORK, MAX_ITERATIONS  # noqa: E402
from profiles.pkcs12_schemes import pkcs12_kdf  # noqa: E402
from tests.profiles import pkcs12_builder as build  # noqa: E402

PASSWORD = "Bench-Passw0rd"
PBE_3DES = "1.2.840.113549.1.12.1.3"


def made_by_cryptography(algorithm: pkcs12.PBES, rounds: int, mac: hashes.HashAlgorithm) -> bytes:
    return build.made_by_cryptography(PASSWORD, algorithm, rounds, mac)


def triple_des_content(iterations: int, *bags: bytes) -> bytes:
    """An EncryptedData under pbeWithSHAAnd3-KeyTripleDES-CBC: 3 SHA-1 rounds per iteration."""
    salt = os.urandom(8)
    key = pkcs12_kdf("sha1", PASSWORD, salt, 1, iterations, 24)
    iv = pkcs12_kdf("sha1", PASSWORD, salt, 2, iterations, 8)
    padder = PKCS7(64).padder()
    encryptor = Cipher(TripleDES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(padder.update(build.sequence(*bags)) + padder.finalize()) + encryptor.finalize()
    scheme = build.sequence(build.oid(PBE_3DES), build.sequence(build.octet_string(salt), build.integer(iterations)))
    info = build.sequence(build.oid(build.DATA), scheme, build.tlv(0x80, ciphertext))
    return build.sequence(build.oid(build.ENCRYPTED_DATA), build.explicit0(build.sequence(build.integer(0), info)))


def costliest_contents(*hidden_bags: bytes) -> list[bytes]:
    """Encrypted contents whose derivations use up the inspection's work limit."""
    budget = MAX_INSPECTION_WORK
    contents = []
    while budget >= 3:
        iterations = min(MAX_ITERATIONS, budget // 3)
        contents.append(triple_des_content(iterations, *hidden_bags))
        budget -= 3 * iterations
        hidden_bags = ()
    return contents


def cpu_ms(action: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        with contextlib.suppress(pfx.PfxRejected):
            action()
        best = min(best, time.process_time() - started)
    return best * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    worst_rounds = MAX_INSPECTION_WORK // 3  # 3DES: 3 rounds per iteration, for certificates and key alike
    aes, triple_des = pkcs12.PBES.PBESv2SHA256AndAES256CBC, pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC
    hidden_bomb = costliest_contents(build.shrouded_key_bag(2**31 - 1))
    cases: list[tuple[str, bytes]] = [
        ("OpenSSL 3 (AES-256, 2048)", made_by_cryptography(aes, 2048, hashes.SHA256())),
        ("OpenSSL 1.x / Windows (3DES, 2048)", made_by_cryptography(triple_des, 2048, hashes.SHA1())),
        (
            f"costliest accepted: Java 8 keytool counts (3DES, {worst_rounds})",
            made_by_cryptography(triple_des, worst_rounds, hashes.SHA1()),
        ),
        ("2^31-1 MAC iterations", build.pfx(PASSWORD, build.data_content(), mac_iterations=2**31 - 1)),
        ("2^31-1 in a key hidden behind the costliest contents", build.pfx(PASSWORD, *hidden_bomb)),
    ]
    print(
        f"limits: {MAX_ITERATIONS} iterations per derivation, {MAX_DERIVATION_WORK} rounds in all, "
        f"{MAX_INSPECTION_WORK} to open encrypted contents"
    )
    for label, der in cases:
        text = base64.b64encode(der).decode()
        outcome = "opens"
        try:
            pfx.decrypt(text, PASSWORD)
        except pfx.PfxRejected as rejected:
            outcome = f"refused: {rejected}"
        print(f"{cpu_ms(lambda text=text: pfx.decrypt(text, PASSWORD), repeat):8.1f} ms CPU  {label} -> {outcome}")


if __name__ == "__main__":
    main()
