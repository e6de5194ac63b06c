"""rpc-go command lines: parse them and turn them into the first message's ``method`` string.

Accepted: ``activate -u URL -profile NAME``, ``deactivate -u URL -password P [-f]`` and
``maintenance <syncclock|syncip|synchostname|syncdeviceinfo|changepassword> -u URL -password P``
with rpc-go's own flags (Go's flag package: ``-x`` and ``--x`` are the same, ``-x=v`` works).
``-n`` / ``--skip-cert-check`` skips WebSocket certificate checks; ``-cafile`` (an amtsim
addition) trusts a given CA instead; ``--tls-tunnel`` asks for the TLS tunnel (§5).
"""

from __future__ import annotations

from dataclasses import dataclass, field

MAINTENANCE_TASKS = {
    # rpc-go renames syncclock to synctime on the wire (§2.3).
    "syncclock": "synctime",
    "synctime": "synctime",
    "syncip": "syncip",
    "synchostname": "synchostname",
    "syncdeviceinfo": "syncdeviceinfo",
    "changepassword": "changepassword",
}

_STRING_FLAGS = {
    "u": "url",
    "url": "url",
    "profile": "profile",
    "password": "password",
    "d": "dns",
    "dns": "dns",
    "h": "hostname",
    "hostname": "hostname",
    "name": "friendly_name",
    "tenant": "tenant_id",
    "tenantid": "tenant_id",
    "uuid": "uuid",
    "static": "new_password",
    "staticip": "static_ip",
    "netmask": "netmask",
    "gateway": "gateway",
    "primarydns": "primary_dns",
    "secondarydns": "secondary_dns",
    "cafile": "ca_file",
    "p": "proxy",
    "proxy": "proxy",
    "l": "log_level",
    "t": "amt_timeout",
}
_BOOL_FLAGS = {
    "n": "skip_cert_check",
    "skip-cert-check": "skip_cert_check",
    "skipcertcheck": "skip_cert_check",
    "skipamtcertcheck": "skip_amt_cert_check",
    "f": "force",
    "force": "force",
    "json": "json_output",
    "v": "verbose",
    "tls-tunnel": "tls_tunnel",
    "tlstunnel": "tls_tunnel",
    "no-progress": "no_progress",
}


class CommandLineError(ValueError):
    """The command line is not one rpc-go would accept."""


@dataclass
class RpcCommand:
    action: str
    url: str = ""
    profile: str = ""
    password: str = field(default="", repr=False)
    force: bool = False
    task: str | None = None
    new_password: str = field(default="", repr=False)
    skip_cert_check: bool = False
    skip_amt_cert_check: bool = False
    ca_file: str | None = None
    dns: str | None = None
    hostname: str | None = None
    friendly_name: str = ""
    tenant_id: str = ""
    uuid: str | None = None
    tls_tunnel: bool = False
    static_ip: str = ""
    netmask: str = ""
    gateway: str = ""
    primary_dns: str = ""
    secondary_dns: str = ""
    json_output: bool = False
    verbose: bool = False
    no_progress: bool = False  # behave like rpc-go v3: no progressSupported in the payload
    proxy: str = ""
    log_level: str = ""
    amt_timeout: str = ""
    extra: list[str] = field(default_factory=list)

    def method_string(self) -> str:
        """The first message's ``method``: an embedded command line (§2.3)."""
        if self.action == "activate":
            return f"activate --profile {self.profile}"
        force = " -f" if self.force else ""
        if self.action == "deactivate":
            return f"deactivate --password {self.password}{force}"
        task_flag = f"--{self.task}"
        if self.task == "changepassword" and self.new_password:
            task_flag += f" {self.new_password}"
        return f"maintenance -password {self.password} {task_flag}{force}"


def parse_command_line(argv: list[str]) -> RpcCommand:
    if not argv:
        raise CommandLineError("expected activate, deactivate or maintenance")
    action = argv[0]
    if action not in ("activate", "deactivate", "maintenance"):
        raise CommandLineError(f"unsupported command {action!r}")
    command = RpcCommand(action=action)
    rest = argv[1:]
    if action == "maintenance":
        if not rest or rest[0] not in MAINTENANCE_TASKS:
            raise CommandLineError(f"maintenance needs one of: {', '.join(sorted(MAINTENANCE_TASKS))}")
        command.task = MAINTENANCE_TASKS[rest[0]]
        rest = rest[1:]
    index = 0
    while index < len(rest):
        token = rest[index]
        index += 1
        if not token.startswith("-") or token in ("-", "--"):
            command.extra.append(token)
            continue
        name, has_value, inline_value = token.lstrip("-").partition("=")
        if name in _BOOL_FLAGS:
            setattr(command, _BOOL_FLAGS[name], inline_value.lower() not in ("false", "0") if has_value else True)
        elif name in _STRING_FLAGS:
            if not has_value:
                if index >= len(rest):
                    raise CommandLineError(f"flag needs an argument: -{name}")
                inline_value = rest[index]
                index += 1
            setattr(command, _STRING_FLAGS[name], inline_value)
        else:
            raise CommandLineError(f"flag provided but not defined: -{name}")
    _validate(command)
    return command


def _validate(command: RpcCommand) -> None:
    if not command.url:
        raise CommandLineError("-u flag is required and cannot be empty")
    if not command.url.startswith(("ws://", "wss://")):
        raise CommandLineError("-u must be a ws:// or wss:// URL")
    if command.action == "activate" and not command.profile:
        raise CommandLineError("-profile flag is required and cannot be empty")
    if " " in command.profile or " " in command.password:
        # RPS splits the method string on spaces (§2.3); rpc-go would send a broken command.
        raise CommandLineError("values containing spaces cannot be sent in the method string")
