"""Keeping a store's secrets out of what it shows: errors, log records and ``repr()``.

A store collects its secret strings (the password of a URL, a token, an API key, a SASL password, an nkey
seed) in a :class:`Secrets` set. :func:`~beluga_core.stores._base.store_errors` scrubs every message it
builds with that set, so a secret that a client library echoes in its own exception text is replaced by
``***`` too, and the exception chained as the cause is replaced by a scrubbed copy when its text (or that of
any exception in its chain) holds a secret. :func:`redact_url` shows a URL with its password as ``***``
(``nats://ops:***@127.0.0.1:4222``). :func:`scrub_library_logs` adds a filter to the client libraries'
loggers that scrubs the records they log (aiokafka logs every request at DEBUG, a SASL PLAIN one included).
"""

from __future__ import annotations

import logging
import re
import weakref
from collections.abc import Iterable, Iterator
from urllib.parse import quote, unquote

REDACTED = "***"

# scheme://userinfo@ ... where userinfo is user, user:password or (NATS) a bare token
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s,'\"]*)@")


def redact_url(url: str, *, bare_user_is_secret: bool = False) -> str:
    """``url`` (or a comma-separated list of URLs) with every password shown as ``***``.

    ``bare_user_is_secret``: a user name without a password is a secret too (NATS reads
    ``nats://TOKEN@host`` as token authentication), shown as ``nats://***@host``.
    """

    def hide(match: re.Match[str]) -> str:
        user, colon, _ = match["userinfo"].partition(":")
        if colon:
            return f"{match['scheme']}{user}:{REDACTED}@"
        if bare_user_is_secret and user:
            return f"{match['scheme']}{REDACTED}@"
        return match[0]

    return _USERINFO.sub(hide, url)


def url_secrets(url: str, *, bare_user_is_secret: bool = False) -> list[str]:
    """The secret parts of ``url`` (or of each URL of a comma-separated list), as written and decoded."""
    found: list[str] = []
    for match in _USERINFO.finditer(url):
        user, colon, password = match["userinfo"].partition(":")
        if colon:
            found.append(password)
        elif bare_user_is_secret:
            found.append(user)
    return found


def url_user(url: str) -> str | None:
    """The user name of the first URL in ``url`` that has one with a password, percent-decoded."""
    for match in _USERINFO.finditer(url):
        user, colon, _ = match["userinfo"].partition(":")
        if colon:
            return unquote(user)
    return None


class Secrets:
    """The secret strings of one store; :meth:`scrub` replaces each (and its URL-escaped forms) by ``***``.

    Every non-empty secret is scrubbed whatever its length, so a one-letter password makes messages hard to
    read rather than leak it.
    """

    def __init__(self, values: Iterable[str | bytes | None] = ()) -> None:
        self._values: set[str] = set()
        for value in values:
            self.add(value)

    def add(self, value: str | bytes | None) -> None:
        """Scrub ``value`` from now on (None and empty strings are ignored)."""
        if isinstance(value, bytes):
            value = value.decode(errors="replace")
        if not value:
            return
        self._values.update({value, quote(value, safe=""), unquote(value)} - {""})

    def __bool__(self) -> bool:
        return bool(self._values)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __repr__(self) -> str:
        return f"Secrets({len(self._values)} values)"

    def scrub(self, text: str) -> str:
        """``text`` with every secret, and every URL's password, replaced by ``***``."""
        for value in sorted(self._values, key=len, reverse=True):  # longest first: one may contain another
            text = text.replace(value, REDACTED)
        return redact_url(text)

    def holds(self, text: str) -> bool:
        """True when ``text`` shows a secret or a URL password."""
        return self.scrub(text) != text

    def safe_cause(self, exc: BaseException) -> BaseException:
        """``exc``, or a scrubbed stand-in for it when its text or its chain's shows a secret.

        The stand-in keeps ``exc``'s traceback (source lines, no values) and its text, scrubbed.
        """
        if not any(self.holds(f"{link!r} {link}") for link in _chain(exc)):
            return exc
        shown = " <- ".join(f"{type(link).__name__}: {self.scrub(str(link))}" for link in _chain(exc))
        return RedactedError(shown).with_traceback(exc.__traceback__)


class RedactedError(Exception):
    """Stands in for a library's exception whose text held a secret; its message is that text, scrubbed."""


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        seen.add(id(link))
        yield link
        link = link.__cause__ if link.__cause__ is not None else link.__context__


# -- library log records --

_registered: weakref.WeakSet[Secrets] = weakref.WeakSet()


class _ScrubFilter(logging.Filter):
    """Scrubs the secrets of every live store from a record's message (formatted first) and exception."""

    def filter(self, record: logging.LogRecord) -> bool:
        live = list(_registered)
        if not live:
            return True
        message = record.getMessage()
        scrubbed = message
        for secrets in live:
            scrubbed = secrets.scrub(scrubbed)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None:
            for secrets in live:
                cause = secrets.safe_cause(record.exc_info[1])
                if cause is not record.exc_info[1]:
                    record.exc_info, record.exc_text = (type(cause), cause, cause.__traceback__), None
                    break
        return True


_FILTER = _ScrubFilter()


def scrub_library_logs(secrets: Secrets, prefixes: Iterable[str]) -> None:
    """Scrub ``secrets`` from the records of every logger named ``prefix`` or ``prefix.*`` (as loaded now).

    A logger's filters see only the records logged on that very logger, so the filter goes on each of them.
    """
    if not secrets:
        return
    _registered.add(secrets)
    names = tuple(prefixes)
    for name in [*names, *list(logging.Logger.manager.loggerDict)]:
        if any(name == prefix or name.startswith(prefix + ".") for prefix in names):
            logger = logging.getLogger(name)
            if _FILTER not in logger.filters:
                logger.addFilter(_FILTER)
