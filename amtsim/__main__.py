"""Command line: ``python -m amtsim device|rpc|load|ea|pki ...`` (see amtsim/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import signal
import ssl
import sys
import time
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from amtsim.device import FACTORY_ROOT_HASHES, DeviceIdentity, VirtualAmtDevice, serve_device
from amtsim.pki import OnDieCa, install_on_die_ca, load_pfx_chain, make_on_die_ca, make_provisioning_chain
from amtsim.rpc import DeviceLink, HttpHeci, run_rpc


def _write(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    print(f"wrote {path}", file=sys.stderr)


def command_make_provisioning_pfx(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    chain = make_provisioning_chain(args.domain_suffix, leaf_common_name=args.leaf_cn, key_size=args.key_size)
    pfx = chain.pfx(args.password, legacy_encryption=not args.aes)
    _write(out / "provisioning.pfx", pfx)
    _write(out / "provisioning.pfx.b64", base64.b64encode(pfx) + b"\n")
    _write(out / "provisioning-chain.pem", chain.chain_pem())
    _write(out / "root.pem", chain.root.public_bytes(serialization.Encoding.PEM))
    _write(out / "root.sha256", chain.root_sha256.encode() + b"\n")
    if args.json:
        print(json.dumps({"root_sha256": chain.root_sha256, "pfx": str(out / "provisioning.pfx")}))
    else:
        print(f"leaf CN: {args.leaf_cn or 'provisioning.' + args.domain_suffix}")
        print("devices must trust this root hash (python -m amtsim device --trust-hash ...):")
        print(chain.root_sha256)
    return 0


def command_make_on_die_ca(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    on_die_ca = make_on_die_ca()
    _write(out / "odca-root.pem", on_die_ca.root_pem())
    _write(out / "odca-intermediate.pem", on_die_ca.intermediate.public_bytes(serialization.Encoding.PEM))
    _write(
        out / "odca-intermediate.key",
        on_die_ca.intermediate_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    print("servers under test trust odca-root.pem in place of Intel's On-Die CA root")
    return 0


def load_on_die_ca(directory: Path) -> OnDieCa:
    key = serialization.load_pem_private_key((directory / "odca-intermediate.key").read_bytes(), None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return OnDieCa(
        root=x509.load_pem_x509_certificate((directory / "odca-root.pem").read_bytes()),
        intermediate=x509.load_pem_x509_certificate((directory / "odca-intermediate.pem").read_bytes()),
        intermediate_key=key,
    )


def _trusted_hashes(args: argparse.Namespace) -> list[str]:
    # A hash given here joins the factory list, as one added in MEBx does on real AMT.
    hashes = [*FACTORY_ROOT_HASHES, *(args.trust_hash or [])]
    if args.trust_pfx:
        chain = load_pfx_chain(Path(args.trust_pfx).read_bytes(), args.pfx_password or "")
        hashes.append(chain.root_sha256)
    return hashes


async def _serve_devices(args: argparse.Namespace) -> int:
    if args.on_die_ca:
        install_on_die_ca(load_on_die_ca(Path(args.on_die_ca)))
    hashes = _trusted_hashes(args)
    async with contextlib.AsyncExitStack() as stack:
        for index in range(args.count):
            identity = DeviceIdentity(
                amt_version=args.amt_version,
                hostname=f"{args.hostname_prefix}{index:04d}",
                dns_suffix=args.dns_suffix,
                trusted_root_hashes=hashes,
            )
            device = VirtualAmtDevice(identity)
            http_port = args.port + 2 * index if args.port else 0
            tls_port = args.port + 2 * index + 1 if args.port else 0
            endpoint = await stack.enter_async_context(
                serve_device(device, host=args.host, http_port=http_port, tls_port=tls_port, tls=args.tls or None)
            )
            print(
                json.dumps(
                    {
                        "uuid": identity.uuid,
                        "host": endpoint.host,
                        "http_port": endpoint.http_port,
                        "tls_port": endpoint.tls_port,
                        "amt_version": identity.amt_version,
                        "rpc": f"python -m amtsim rpc --device {endpoint.host}:{endpoint.http_port}"
                        + (f" --tls-port {endpoint.tls_port}" if endpoint.tls_port else "")
                        + f" activate -u {SERVER_HINT} -profile PROFILE",
                    }
                ),
                flush=True,
            )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        print(f"amtsim: {args.count} device(s) ready; Ctrl-C stops", file=sys.stderr, flush=True)
        await stop.wait()
    return 0


async def _wait_for_device(host: str, port: int, seconds: float) -> bool:
    """True once the device accepts connections: a device started with `&` just before needs a moment."""
    deadline = time.monotonic() + seconds
    said = False
    while True:
        try:
            _reader, writer = await asyncio.open_connection(host, port)
        except OSError:
            if time.monotonic() >= deadline:
                return False
            if not said:
                print(f"amtsim: waiting for the device at {host}:{port} ...", file=sys.stderr, flush=True)
                said = True
            await asyncio.sleep(0.1)
            continue
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return True


async def _run_rpc(args: argparse.Namespace) -> int:
    host, _, port = args.device.rpartition(":")
    link = DeviceLink(host=host or "127.0.0.1", plain_port=int(port), tls_port=args.tls_port)
    if not await _wait_for_device(link.host, link.plain_port, args.wait):
        print(f"amtsim: no device listens at {link.host}:{link.plain_port} (start one: amtsim device)", file=sys.stderr)
        return 2
    result = await run_rpc(args.rpc_args, heci=HttpHeci(link.host, link.plain_port), link=link)
    for line in result.progress:
        print(f"progress: {line}", file=sys.stderr)
    if result.status is not None:
        print(json.dumps(result.status, indent=2))
    elif result.message:
        print(result.message)
    if result.error:
        hint = ""
        if result.error.startswith("connection failed") and any(arg.startswith("ws://") for arg in args.rpc_args):
            hint = f" (a server on TLS, such as ./rps serve, takes -u {SERVER_HINT})"
        print(result.error + hint, file=sys.stderr)
    return result.exit_code


async def _run_enterprise_assistant(args: argparse.Namespace) -> int:
    from amtsim.enterprise_assistant import EaFault, ReplyStyle, VirtualEnterpriseAssistant
    from amtsim.pki import load_enterprise_ca, make_enterprise_ca

    if bool(args.ca_cert) != bool(args.ca_key):
        print("--ca-cert and --ca-key go together", file=sys.stderr)
        return 2
    if args.ca_cert:
        ca = load_enterprise_ca(Path(args.ca_cert).read_bytes(), Path(args.ca_key).read_bytes())
    else:
        ca = make_enterprise_ca()
    if args.write_ca:
        out = Path(args.write_ca)
        out.mkdir(parents=True, exist_ok=True)
        _write(out / "ea-root.pem", ca.root_pem())
        _write(out / "ea-root.key", ca.key_pem())
    context = None
    if args.url.startswith("wss://"):
        context = ssl.create_default_context(cafile=args.cafile)
        if args.insecure:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    credentials = None
    if args.auth:
        user, _, password = args.auth.partition(":")
        credentials = (user, password)
    assistant = VirtualEnterpriseAssistant(
        args.url,
        credentials=credentials,
        ssl_context=context,
        reply_style=ReplyStyle(args.reply_style),
        ca=ca,
        domain=args.domain,
    )
    for switch in args.fault or []:
        assistant.faults.add(EaFault.from_switch(switch))
    assistant.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    print(json.dumps({"url": args.url, "ca_subject": ca.root.subject.rfc4514_string()}), flush=True)
    await stop.wait()
    await assistant.stop()
    print(
        json.dumps(
            {
                "connections": assistant.connections,
                "refused": assistant.refusals,
                "requests": len(assistant.received),
                "certificates_issued": len(assistant.issued),
                "accounts_given": len(assistant.accounts),
                "unanswered": assistant.errors,
            }
        ),
        flush=True,
    )
    return 0


SERVER_HINT = "wss://localhost:8443/activate -cafile var/tls/cert.pem"  # what `./rps serve` offers


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m amtsim", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    device = commands.add_parser(
        "device",
        help="serve virtual AMT devices until interrupted",
        description="Serve virtual AMT devices. Each prints one JSON line once it listens; then "
        "'amtsim: N device(s) ready' goes to stderr. Ctrl-C or SIGTERM stops them.",
    )
    device.add_argument("--count", type=int, default=1, help="how many devices (default 1)")
    device.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    device.add_argument("--port", type=int, default=0, help="first port (HTTP, then TLS, per device); 0 = ephemeral")
    device.add_argument(
        "--amt-version", default="16.1.25", help="AMT version reported (19+ enforces TLS; default 16.1.25)"
    )
    device.add_argument("--dns-suffix", default="vprodemo.com", help="DNS suffix reported (ACM domains match it)")
    device.add_argument("--hostname-prefix", default="amtsim-", help="host names are PREFIX0000, PREFIX0001, ...")
    device.add_argument("--trust-hash", action="append", help="SHA-256 (or SHA-1/384) of a trusted root; repeatable")
    device.add_argument("--trust-pfx", help="trust the root inside this provisioning PFX")
    device.add_argument("--pfx-password", default="", help="password of --trust-pfx")
    device.add_argument("--tls", action="store_true", help="also open the TLS port on AMT < 19")
    device.add_argument("--on-die-ca", help="directory written by 'pki make-on-die-ca'")

    rpc = commands.add_parser(
        "rpc",
        help="run one rpc-go command line against a served device",
        description=f"Run one rpc-go command line, e.g. activate -u {SERVER_HINT} -profile NAME",
    )
    rpc.add_argument("--device", required=True, help="HOST:PORT of the device's HTTP listener")
    rpc.add_argument("--tls-port", type=int, default=None, help="the device's TLS port (default: HTTP port + 1)")
    rpc.add_argument(
        "--wait", type=float, default=30.0, help="seconds to wait for the device to listen (default 30; 0 = not at all)"
    )
    rpc.add_argument("rpc_args", nargs=argparse.REMAINDER, help="activate|deactivate|maintenance ... (rpc-go flags)")

    load = commands.add_parser("load", help="activate many virtual devices at once and report throughput")
    from amtsim.load import add_load_arguments

    add_load_arguments(load)

    ea = commands.add_parser(
        "ea",
        help="a virtual Enterprise Assistant: connects to a server and answers its 802.1X/TLS certificate requests",
    )
    ea.add_argument("--url", required=True, help="the server's EA endpoint, e.g. wss://rps.example.com:8443/ea")
    ea.add_argument("--auth", metavar="USER:PASSWORD", help="credentials sent in x-meshauth, as the EA's user/pass")
    ea.add_argument("--cafile", help="trust this CA for the server's wss:// certificate")
    ea.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    ea.add_argument("--ca-cert", help="PEM root of the CA that issues AMT's certificates (default: a generated one)")
    ea.add_argument("--ca-key", help="PEM private key of --ca-cert")
    ea.add_argument("--write-ca", metavar="DIR", help="write the CA's ea-root.pem and ea-root.key here")
    ea.add_argument(
        "--reply-style",
        choices=["ea", "ea1"],
        default="ea",
        help="reply subactions of the current EA (Profile-Completed, ...) or the older one (802.1x-...)",
    )
    ea.add_argument("--domain", default="fake.test", help="the AD domain named in replies")
    ea.add_argument(
        "--fault",
        action="append",
        metavar="KIND[:REQUEST[:ARG]]",
        help="misbehave on every matching request; KIND is silent, disconnect, malformed (ARG: field path, "
        "e.g. response.csr), change (ARG: path=value), wrong-subaction (ARG: subaction), wrong-nodeid, "
        "not-json (ARG: then-reply), delay (ARG: seconds), duplicate; REQUEST is profile, key-pair, csr or *; "
        "repeatable",
    )

    pki = commands.add_parser("pki", help="test certificates")
    pki_commands = pki.add_subparsers(dest="pki_command", required=True)
    pfx = pki_commands.add_parser("make-provisioning-pfx", help="root → intermediate → leaf ACM chain as a PFX")
    pfx.add_argument("--out", required=True, help="directory to write the PFX, its base64, the chain and root to")
    pfx.add_argument("--domain-suffix", required=True, help="DNS suffix the leaf certificate is for")
    pfx.add_argument("--password", required=True, help="password protecting the PFX")
    pfx.add_argument("--leaf-cn", default=None, help="leaf common name (default provisioning.SUFFIX)")
    pfx.add_argument("--key-size", type=int, default=2048, help="RSA key size (default 2048)")
    pfx.add_argument("--aes", action="store_true", help="AES-256 PKCS#12 instead of the widely readable 3DES")
    pfx.add_argument("--json", action="store_true", help="print the root hash and PFX path as JSON")
    odca = pki_commands.add_parser("make-on-die-ca", help="a stand-in On-Die CA for TLS-enforced devices")
    odca.add_argument("--out", required=True, help="directory to write the root, intermediate and its key to")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "pki":
        if args.pki_command == "make-provisioning-pfx":
            return command_make_provisioning_pfx(args)
        return command_make_on_die_ca(args)
    if args.command == "device":
        return asyncio.run(_serve_devices(args))
    if args.command == "rpc":
        return asyncio.run(_run_rpc(args))
    if args.command == "ea":
        return asyncio.run(_run_enterprise_assistant(args))
    from amtsim.load import run_load_command

    return asyncio.run(run_load_command(args))


if __name__ == "__main__":
    sys.exit(main())
