"""The drills' bookkeeping on made-up outcomes (no stack needed): what counts as lost, half-applied, or a
refused batch that landed, and the recovery figures."""

from __future__ import annotations

from django.test import SimpleTestCase

from bench import client
from loadgen import ACK, REFUSED, UNKNOWN, Fixture, Load, Send

Q1, Q2, Q3 = 101, 102, 103


def make_load() -> Load:
    fixture = Fixture(
        target=client.Target(host="127.0.0.1", port=8080, base_url="http://127.0.0.1:8080"),
        exam_id=1,
        questions={q: [q * 10 + c for c in range(6)] for q in (Q1, Q2, Q3)},
        tokens=["t0"],
        student_ids=[7],
    )
    return Load(fixture)


def send(load: Load, seq: int, outcome: str, items: dict[int, tuple[int, ...]], *, at: float = 0.0) -> Send:
    status = {ACK: 200, REFUSED: 503, UNKNOWN: 0}[outcome]
    s = Send(student=0, seq=seq, items=items, sent=at, done=at + 0.01, status=status, outcome=outcome)
    load.sends.append(s)
    return s


class VerifyTests(SimpleTestCase):
    def test_it_counts_nothing_when_every_acknowledged_value_is_stored(self):
        load = make_load()
        send(load, 0, ACK, {Q1: (1,), Q2: (2,)})
        send(load, 1, ACK, {Q1: (3,)})
        v = load.verify({0: {Q1: (3,), Q2: (2,)}}, 0)
        self.assertEqual((v.lost, v.half_applied, v.pairs_checked), (0, 0, 2))

    def test_it_counts_a_missing_acknowledged_answer_as_lost(self):
        load = make_load()
        send(load, 0, ACK, {Q1: (1,), Q2: (2,)})
        v = load.verify({0: {Q1: (1,)}}, 0)
        self.assertEqual(v.lost, 1)

    def test_it_counts_an_older_value_than_the_last_acknowledged_one_as_lost(self):
        load = make_load()
        send(load, 0, ACK, {Q1: (1,)})
        send(load, 1, ACK, {Q1: (2,)})
        v = load.verify({0: {Q1: (1,)}}, 0)
        self.assertEqual(v.lost, 1)

    def test_it_allows_a_later_unacknowledged_value_to_replace_the_acknowledged_one(self):
        load = make_load()
        send(load, 0, ACK, {Q1: (1,)})
        send(load, 1, UNKNOWN, {Q1: (2,)})
        send(load, 2, REFUSED, {Q2: (3,)})
        v = load.verify({0: {Q1: (2,)}}, 0)
        self.assertEqual(v.lost, 0)

    def test_it_flags_a_value_nobody_sent(self):
        load = make_load()
        send(load, 0, ACK, {Q1: (1,)})
        v = load.verify({0: {Q1: (9,)}}, 0)
        self.assertEqual((v.lost, v.foreign_values), (1, 1))

    def test_it_finds_a_refused_batch_half_applied(self):
        load = make_load()
        send(load, 0, ACK, {Q1: (1,), Q2: (1,)})
        send(load, 1, REFUSED, {Q1: (2,), Q2: (2,)})
        v = load.verify({0: {Q1: (2,), Q2: (1,)}}, 0)
        self.assertEqual((v.half_applied, v.refused_batches, v.refused_checked), (1, 1, 1))

    def test_a_refused_batch_wholly_applied_or_not_at_all_is_fine(self):
        load = make_load()
        send(load, 0, REFUSED, {Q1: (1,), Q2: (1,)})
        send(load, 1, REFUSED, {Q3: (1,), Q2: (2,)})
        v = load.verify({0: {Q1: (1,), Q2: (1,)}}, 0)
        self.assertEqual((v.half_applied, v.refused_landed), (0, 1))

    def test_an_answer_overwritten_later_cannot_make_a_refused_batch_half_applied(self):
        load = make_load()
        send(load, 0, REFUSED, {Q1: (1,), Q2: (1,)})
        send(load, 1, ACK, {Q1: (2,)})
        v = load.verify({0: {Q1: (2,)}}, 0)  # Q1 says nothing about batch 0; Q2 says it did not land
        self.assertEqual((v.half_applied, v.lost), (0, 0))

    def test_a_student_who_could_not_be_read_is_not_counted_as_lost(self):
        load = make_load()
        send(load, 0, ACK, {Q1: (1,)})
        v = load.verify({}, 1)
        self.assertEqual((v.lost, v.read_errors, v.students_checked), (0, 1, 0))


class RecoveryTests(SimpleTestCase):
    def test_it_measures_from_the_heal_to_the_first_save_acknowledged_after_it(self):
        load = make_load()
        load.started = 0.0
        seq = 0
        for t in range(0, 30):
            for k in range(10):
                at = t + k / 10
                outcome = REFUSED if 10 <= at < 20 else ACK
                send(load, seq, outcome, {Q1: (1,)}, at=at)
                seq += 1
        load.stopped = 30.0
        r = load.recovery(fault=10.0, healed=20.0)
        self.assertAlmostEqual(r["first_ok_s"], 0.01)
        self.assertEqual(r["throughput_s"], 0.0)
        self.assertEqual(r["baseline_ok_per_s"], 10)
        self.assertAlmostEqual(r["last_failure_s"], 9.9)
