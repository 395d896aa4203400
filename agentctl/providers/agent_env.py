"""The environment a command agent and a self-test receive (SPEC §5): one pure function.

What passes:

- the base set: PATH, HOME, LANG, LC_*, TZ, TMPDIR and the ``AGENTCTL_*`` variables;
- the names the agent lists under ``env:`` (its own CLI's key, say), whatever they look like;
- any other variable whose name and value do not look secret (USER, TERM, VIRTUAL_ENV, …).

What never passes unless listed: a variable whose *name* looks secret (``*_KEY``, ``*_TOKEN``,
``*_SECRET``, ``*_PASSWORD``, ``*_DSN``, ``*_CREDENTIALS``, …), whose *value* has a known key shape
(``sk-…``, ``ghp_…``, ``AKIA…``, a URL with a password) or equals one of ``secret_values`` — the
keys of the workspace's LLM tiers, which agentctl uses itself and never hands to commands, whatever
variable holds them. The source environment is passed in: nothing here reads ``os.environ``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

BASE = frozenset({"PATH", "HOME", "LANG", "TZ", "TMPDIR"})
BASE_PREFIXES = ("LC_", "AGENTCTL_")
_SECRET_NAME = re.compile(
    r"(?:^|_)(?:KEY|KEYS|TOKEN|TOKENS|SECRET|SECRETS|PASSWORD|PASSWD|CREDENTIALS?|DSN|AUTH|COOKIE)(?:_|$)", re.I)
_SECRET_VALUE = re.compile(
    r"sk-ant-[A-Za-z0-9_\-]{8,}|sk-(?:proj-)?[A-Za-z0-9_\-]{16,}|xai-[A-Za-z0-9_\-]{16,}|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}|xox[abprs]-[A-Za-z0-9\-]{10,}|AKIA[0-9A-Z]{16}|AIza[0-9A-Za-z_\-]{30,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY|(?i:bearer\s+[A-Za-z0-9._~+/=\-]{8,})|://[^/\s:@]+:[^/\s@]+@")


def looks_secret(name: str, value: str) -> bool:
    """True when a variable's name or value looks like a credential."""
    return bool(_SECRET_NAME.search(name) or _SECRET_VALUE.search(value))


def in_base_set(name: str) -> bool:
    return name in BASE or name.startswith(BASE_PREFIXES)


def agent_env(source: Mapping[str, str], allowed: Iterable[str] = (), *, secret_values: Iterable[str] = (),
              extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a command agent or self-test built from ``source``.

    ``allowed``: the agent's ``env:`` names, passed as they are. ``secret_values``: values that must
    not reach the process under any unlisted name (the tiers' keys). ``extra``: variables agentctl
    sets for the run (``AGENTCTL_TASK``, …), applied last.
    """
    listed = set(allowed)
    secrets = {v for v in secret_values if v}
    out: dict[str, str] = {}
    for name, value in source.items():
        if name in listed:
            out[name] = value
        elif value in secrets:
            continue
        elif not looks_secret(name, value):  # the base set too: AGENTCTL_PG_DSN is a secret
            out[name] = value
    out.update(extra or {})
    return out


def dropped_names(source: Mapping[str, str], env: Mapping[str, str]) -> list[str]:
    """Names of ``source`` that ``env`` leaves out (for a `--verbose` note; never their values)."""
    return sorted(n for n in source if n not in env)
