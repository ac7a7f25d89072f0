"""A polite HTTP client: urllib3's retries inside a requests session, a shared request rate.

Transport trouble (connect errors, resets, read timeouts) and 5xx replies are retried by
urllib3's `Retry`, up to `retries` times: the first retry at once, then after 2, 4, ... times
`backoff` plus up to `backoff` of jitter, or after the reply's Retry-After (at most
`backoff_max`). 4xx replies are returned at once. The request rate paces each `get`; the
retries inside it are paced by their backoff. One session per thread.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

RETRIED_STATUS = (500, 502, 503, 504)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently to ask: `retries` after the first try (urllib3's for
    transport errors and 5xx; the caller's own, with `wait_before`, for bad bodies), waits
    doubling from `backoff` seconds plus up to `backoff` of jitter, at most `backoff_max`."""

    retries: int = 5
    backoff: float = 1.0
    backoff_max: float = 120.0
    timeout: float = 60.0

    def urllib3_retry(self) -> Retry:
        return Retry(
            total=self.retries,
            connect=self.retries,
            read=self.retries,
            status=self.retries,
            other=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=RETRIED_STATUS,
            backoff_factor=self.backoff,
            backoff_jitter=self.backoff,
            backoff_max=self.backoff_max,
            retry_after_max=max(1, int(self.backoff_max)),
            raise_on_status=False,
        )

    def wait_before(self, attempt: int, rng_uniform: float) -> float:
        """Seconds to wait before retry number `attempt` (1, 2, ...) of the caller's own loop."""
        return min(self.backoff_max, self.backoff * 2 ** (attempt - 1)) + rng_uniform * self.backoff


class RequestRate:
    """At most `per_second` requests started per second across the threads that share it."""

    def __init__(self, per_second: float) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self._next = time.monotonic()
        self._lock = threading.Lock()

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
        if slot > now:
            time.sleep(slot - now)


@dataclass(frozen=True)
class Reply:
    """A finished request: the status (0 when no reply came), the body, the tries it took
    and, when it failed, why."""

    status: int
    content: bytes
    tries: int
    error: str = ""


class PoliteClient:
    """GET with the policy's retries and a shared rate; thread-safe (a session per thread)."""

    def __init__(
        self,
        policy: RetryPolicy,
        rate: RequestRate,
        user_agent: str,
        auth: tuple[str, str] | None = None,
    ) -> None:
        self.policy, self.rate, self.user_agent, self.auth = policy, rate, user_agent, auth
        self._local = threading.local()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = HTTPAdapter(max_retries=self.policy.urllib3_retry())
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = self.user_agent
            session.auth = self.auth
            self._local.session = session
        return session

    def get(self, url: str, params: dict[str, str]) -> Reply:
        """One request, retried by urllib3 until it gets a reply or runs out of retries; a body
        cut short after the headers comes back as an error with the reply's status."""
        self.rate.wait()
        try:
            response = self._session().get(
                url, params=params, timeout=self.policy.timeout, stream=True
            )
        except requests.RequestException as exc:
            retried = isinstance(exc, (requests.ConnectionError, requests.Timeout))
            tries = self.policy.retries + 1 if retried else 1
            return Reply(0, b"", tries, f"{type(exc).__name__}: {_reason(exc)}")
        history = response.raw.retries.history if response.raw.retries is not None else ()
        tries = len(history) + 1
        try:
            content = response.content
        except requests.RequestException as exc:
            return Reply(response.status_code, b"", tries, f"body: {_reason(exc)}")
        finally:
            response.close()
        error = "" if response.ok else f"HTTP {response.status_code} {response.reason}"
        return Reply(response.status_code, content, tries, error)


def _reason(exc: requests.RequestException) -> str:
    """The innermost cause of a requests error, in one line."""
    cause: BaseException = exc
    while cause.args and isinstance(cause.args[0], BaseException):
        cause = cause.args[0]
    reason = getattr(cause, "reason", None)
    return str(reason if reason is not None else cause).splitlines()[0][:200]
