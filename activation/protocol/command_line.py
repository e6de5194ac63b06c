"""The `method` string of the first message: an embedded command line (protocol.md §2.3), read
as upstream's minimist reads it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from activation.protocol.messages import ClientMethod, CommandLine, MaintenanceTask
from rps_site.sensitive import Secret

MAINTENANCE_TASKS: Final = ("synctime", "syncip", "changepassword", "synchostname", "syncdeviceinfo")


def parse_command_line(method_line: str) -> CommandLine | None:
    """§2.3: the `method` string read as upstream's minimist options read it. None when the first
    word is not an action this server handles."""
    words = method_line.strip().split(" ")
    try:
        action = ClientMethod(words[0])
    except ValueError:
        return None
    if action not in (ClientMethod.ACTIVATE, ClientMethod.DEACTIVATE, ClientMethod.MAINTENANCE):
        return None
    options = _minimist(words[1:])
    task: MaintenanceTask | None = None
    task_argument: Secret | None = None
    if action is ClientMethod.MAINTENANCE:
        for name in MAINTENANCE_TASKS:
            if options.flags.get(name) is True:
                task = MaintenanceTask(name)
                break
        if task is MaintenanceTask.CHANGE_PASSWORD and options.positional:
            task_argument = Secret(options.positional[0])
    password = options.flags.get("password")
    profile = options.flags.get("profile")
    return CommandLine(
        action=action,
        profile=profile if isinstance(profile, str) else "",
        password=Secret(password) if isinstance(password, str) and password else None,
        force=options.flags.get("force") is True,
        task=task,
        task_argument=task_argument,
    )


@dataclass
class _ParsedOptions:
    flags: dict[str, str | bool] = field(default_factory=dict)
    positional: list[str] = field(default_factory=list)


# upstream CommandParser: string ['text', 'password'], boolean [force, synctime, syncip,
# changepassword, synchostname], alias t→text p→password f→force. `syncdeviceinfo` is not declared
# boolean there, so it would swallow a following bare word; rpc-go never sends one after it.
_BOOLEAN_OPTIONS: Final = frozenset({"force", "synctime", "syncip", "changepassword", "synchostname"})
_STRING_OPTIONS: Final = frozenset({"text", "password"})
_ALIASES: Final = {"t": "text", "p": "password", "f": "force", "e": "encrypted"}


def _minimist(words: list[str]) -> _ParsedOptions:
    """The subset of minimist's rules rpc-go's command lines exercise."""
    parsed = _ParsedOptions()
    index = 0

    def takes_value(name: str) -> bool:
        return name not in _BOOLEAN_OPTIONS

    def next_value() -> str | None:
        if index + 1 < len(words) and not words[index + 1].startswith("-"):
            return words[index + 1]
        return None

    while index < len(words):
        word = words[index]
        if word.startswith("--") and len(word) > 2:
            name, has_equals, inline_value = word[2:].partition("=")
            name = _ALIASES.get(name, name)
            if has_equals:
                parsed.flags[name] = inline_value
            elif takes_value(name) and (value := next_value()) is not None:
                parsed.flags[name] = value
                index += 1
            else:
                parsed.flags[name] = "" if name in _STRING_OPTIONS else True
        elif word.startswith("-") and len(word) > 1 and word != "--":
            letters = word[1:]
            # `-password X` is read as the short flags p,a,s,s,w,o,r,d: `p` (password) becomes
            # "" and `d` takes X. That is why maintenance never carries its password here.
            for letter in letters[:-1]:
                name = _ALIASES.get(letter, letter)
                parsed.flags[name] = "" if name in _STRING_OPTIONS else True
            name = _ALIASES.get(letters[-1], letters[-1])
            if takes_value(name) and (value := next_value()) is not None:
                parsed.flags[name] = value
                index += 1
            else:
                parsed.flags[name] = "" if name in _STRING_OPTIONS else True
        else:
            parsed.positional.append(word)
        index += 1
    return parsed
