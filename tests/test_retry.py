"""The one backoff policy of every retry loop."""

from __future__ import annotations

from ingestd.retry import Backoff


def test_waits_double_up_to_the_cap_and_start_again_after_a_success() -> None:
    backoff = Backoff(0.5, 4.0, jitter=0.0)
    assert [backoff.next() for _ in range(6)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    backoff.reset()
    assert backoff.next() == 0.5


def test_jitter_only_shortens_a_wait_and_by_at_most_its_share() -> None:
    backoff = Backoff(1.0, 8.0, jitter=0.5)
    waits = [backoff.delay(3) for _ in range(200)]
    assert all(2.0 <= w <= 4.0 for w in waits)
    assert len(set(waits)) > 1  # replicas do not come back in step
