"""The memory cache behind stories_json: freshness, eviction, failed loads."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from instapipe.answer_cache import AnswerCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def loader(
    value: str, keep_s: float, calls: list[str]
) -> Callable[[], tuple[str, float]]:
    def load() -> tuple[str, float]:
        calls.append(value)
        return value, keep_s

    return load


def test_a_value_is_kept_for_the_time_its_loader_says() -> None:
    clock, calls = Clock(), list[str]()
    cache: AnswerCache[str] = AnswerCache(8, clock)

    first = cache.get("a", loader("one", 30, calls))
    clock.now += 29
    kept = cache.get("a", loader("two", 30, calls))
    clock.now += 2
    renewed = cache.get("a", loader("three", 30, calls))

    assert (first, kept, renewed) == ("one", "one", "three")
    assert calls == ["one", "three"]


def test_a_value_without_keep_time_is_not_kept() -> None:
    calls: list[str] = []
    cache: AnswerCache[str] = AnswerCache(8, Clock())

    cache.get("a", loader("one", 0, calls))
    cache.get("a", loader("two", -5, calls))

    assert calls == ["one", "two"]


def test_the_least_recently_used_entry_goes_first() -> None:
    calls: list[str] = []
    cache: AnswerCache[str] = AnswerCache(2, Clock())
    cache.get("a", loader("a1", 30, calls))
    cache.get("b", loader("b1", 30, calls))
    cache.get("a", loader("a2", 30, calls))

    cache.get("c", loader("c1", 30, calls))
    cache.get("a", loader("a3", 30, calls))
    cache.get("b", loader("b2", 30, calls))

    assert calls == ["a1", "b1", "c1", "b2"]


def test_a_failed_load_is_not_kept() -> None:
    calls: list[str] = []
    cache: AnswerCache[str] = AnswerCache(8, Clock())

    def failing() -> tuple[str, float]:
        raise RuntimeError("firestore down")

    with pytest.raises(RuntimeError):
        cache.get("a", failing)
    value = cache.get("a", loader("one", 30, calls))

    assert value == "one" and calls == ["one"]
