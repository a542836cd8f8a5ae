"""Rendered stories_json answers kept in one instance's memory for a short time.

A burst of page views for one account costs one Firestore query: concurrent misses
for the same key wait for the first one's answer instead of querying alongside it.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class _Entry(Generic[T]):
    value: T
    fresh_until: float


class AnswerCache(Generic[T]):
    """At most `max_entries` values, each kept for the time its loader says."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.monotonic):
        self._max_entries = max_entries
        self._clock = clock
        self._entries: OrderedDict[Hashable, _Entry[T]] = OrderedDict()
        self._loading: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: Hashable, load: Callable[[], tuple[T, float]]) -> T:
        """The fresh value for `key`, or `load()`'s (value, seconds to keep it)."""
        with self._lock:
            cached = self._fresh(key)
            if cached is not None:
                return cached.value
            key_lock = self._loading.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                cached = self._fresh(key)
            if cached is not None:
                return cached.value
            try:
                value, keep_s = load()
                self._store(key, value, keep_s)
            finally:
                with self._lock:
                    self._loading.pop(key, None)
            return value

    def _fresh(self, key: Hashable) -> _Entry[T] | None:
        entry = self._entries.get(key)
        if entry is None or entry.fresh_until <= self._clock():
            return None
        self._entries.move_to_end(key)
        return entry

    def _store(self, key: Hashable, value: T, keep_s: float) -> None:
        if keep_s <= 0:
            return
        with self._lock:
            self._entries[key] = _Entry(value, self._clock() + keep_s)
            self._entries.move_to_end(key)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)
