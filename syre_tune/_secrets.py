"""Credentials in what users type (storage URIs, Optuna RDB URLs) kept out of everything written.

pyarrow accepts ``s3://KEY:SECRET@bucket/path``; SQLAlchemy ``postgresql://user:password@host/db``.
Such a string must never reach a file, a log line or a message: :func:`redact` replaces the
credentials in any text with ``***``, and :func:`move_credentials` takes an object store's
credentials out of its URI into this process's environment (where pyarrow's default credential
chain finds them, and from where the runner hands them to the cluster's workers in memory), so
the filesystem objects built from the clean URI (which Ray Tune pickles into its experiment
state) carry none.
"""

from __future__ import annotations

import os
import re
import urllib.parse

MASK = "***"
OBJECT_STORES = ("s3",)
"""Schemes whose URI user is an access key (both halves of ``KEY:SECRET@`` are secret)."""

_ENVIRONMENT: dict[str, str] = {}
"""The credentials this process moved out of URIs into its environment (for the cluster's workers)."""

_USERINFO = re.compile(
    r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^/@\s:'\"?#]*)(?::(?P<password>[^/@\s'\"]*))?@"
)
_SECRET_KEYS = (
    "password|passwd|pwd|secret|secret_key|secret_access_key|access_key|access_key_id|session_token|token|"
    "security_token|sig|signature|credential|credentials|key"
)
_QUERY = re.compile(rf"(?i)(?P<key>[?&;](?:[a-z0-9_.-]*[_.-])?(?:{_SECRET_KEYS}))=(?P<value>[^&#\s'\"]+)")
_ENV_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}|\$[A-Za-z_][A-Za-z0-9_]*")


def redact(text: str) -> str:
    """``text`` with every URL credential replaced by ``***``: the password of ``user:password@``
    (and the user too where it is an object store's access key) and secret query parameters
    (``?password=``, ``&session_token=``, ...). ``${VAR}`` references are left as they are."""

    def userinfo(match: re.Match) -> str:
        scheme, user, password = match["scheme"], match["user"], match["password"]
        store = scheme[:-3].lower() in OBJECT_STORES
        if password is None:
            return f"{scheme}{MASK}@" if store and user else match[0]
        if _ENV_REFERENCE.fullmatch(password) and not store:
            return match[0]
        return f"{scheme}{MASK if store else user}:{MASK}@"

    text = _USERINFO.sub(userinfo, text)
    return _QUERY.sub(lambda m: f"{m['key']}={MASK}", text)


def literal_password(url: str) -> bool:
    """Whether ``url`` holds a password written out (not a ``${VAR}`` reference)."""
    parts = urllib.parse.urlsplit(url)
    password = parts.password if "@" in parts.netloc else None
    return bool(password) and not _ENV_REFERENCE.fullmatch(urllib.parse.unquote(password))


def expand(url: str) -> str:
    """``url`` with its ``${VAR}`` references replaced from the environment (in memory only)."""
    missing = [ref for ref in _ENV_REFERENCE.findall(url) if ref.strip("${}") not in os.environ]
    if missing:
        raise KeyError(f"{', '.join(missing)} not set in the environment")
    return os.path.expandvars(url)


def _split(uri: str) -> tuple[str, dict[str, str]]:
    """An object-store URI without its ``KEY:SECRET@``, and those credentials as AWS variables."""
    scheme, sep, rest = uri.partition("://")
    if not sep or scheme.lower() not in OBJECT_STORES:
        return uri, {}
    authority, slash, tail = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if not at:
        return uri, {}
    key, _, secret = (urllib.parse.unquote(part) for part in userinfo.partition(":"))
    found = {"AWS_ACCESS_KEY_ID": key, "AWS_SECRET_ACCESS_KEY": secret}
    return f"{scheme}://{host}{slash}{tail}", {name: value for name, value in found.items() if value}


def strip_credentials(uri: str) -> str:
    """``uri`` without an object store's ``KEY:SECRET@`` (other URIs unchanged)."""
    return _split(uri)[0]


def move_credentials(uri: str) -> str:
    """:func:`strip_credentials`, the credentials going into this process's environment
    (``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, where pyarrow looks) and :func:`environment`."""
    clean, found = _split(uri)
    os.environ.update(found)
    _ENVIRONMENT.update(found)
    return clean


def environment() -> dict[str, str]:
    """The credentials moved out of URIs by this process (for Ray's ``runtime_env``, in memory)."""
    return dict(_ENVIRONMENT)
