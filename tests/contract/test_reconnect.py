"""The wait between attempts to reach the broker: bounded, doubling, and jittered so that a
site's clients do not all come back in the same instant after a broker restart."""

from __future__ import annotations

import random

from drivers.mqtt import Backoff, MqttSettings, reconnect_backoff


def test_plain_backoff_doubles_to_its_bound_and_resets() -> None:
    b = Backoff(maximum=2.0)
    assert [b.next() for _ in range(6)] == [0.25, 0.5, 1.0, 2.0, 2.0, 2.0]
    b.reset()
    assert b.next() == 0.25


def test_jittered_waits_stay_in_their_band_and_differ_between_clients() -> None:
    clients = [Backoff(maximum=8.0, jitter=0.5, rng=random.Random(seed)) for seed in range(20)]
    waves = [[c.next() for _ in range(7)] for c in clients]
    for waits in waves:
        for wait, cap in zip(waits, [0.25, 0.5, 1, 2, 4, 8, 8], strict=True):
            assert cap * 0.5 <= wait <= cap
    # After the same outage, twenty clients' fifth attempts are spread, not in lockstep.
    fifth = sorted(w[4] for w in waves)
    assert fifth[-1] - fifth[0] > 1.0


def test_every_broker_client_uses_the_jittered_backoff() -> None:
    b = reconnect_backoff(MqttSettings(reconnect_max_s=4.0))
    assert b.jitter > 0 and b.maximum == 4.0
