"""The real StateMachine + MvccStore against the naive model (tests/property/model.py).

Every write goes through ``StateMachine.apply_batch`` (sometimes several commands per
batch), every result, revision and ``Effects`` is compared with the model, and reads
compare whole RangeResponses at retained, compacted and future revisions. Restarts
(close + reopen on the same directory) and replays of applied entries must change
nothing.
"""

from __future__ import annotations

from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from tests.property.harness import Harness
from tests.property.strategies import (
    commands,
    key_ranges,
    put_commands,
    range_requests,
    txn_commands,
)


class MvccMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.h = Harness()

    def teardown(self) -> None:
        self.h.close()

    @rule(data=st.data(), n=st.integers(1, 4))
    def apply_batch(self, data: st.DataObject, n: int) -> None:
        for i in range(n):
            self.h.stage(data.draw(commands(self.h.model), label=f"command {i}"))
        self.h.flush()

    @rule(data=st.data(), n=st.integers(1, 3))
    def puts(self, data: st.DataObject, n: int) -> None:
        for i in range(n):
            self.h.stage(data.draw(put_commands(self.h.model), label=f"put {i}"))
        self.h.flush()

    @rule(data=st.data())
    def txn(self, data: st.DataObject) -> None:
        self.h.stage(data.draw(txn_commands(self.h.model), label="txn"))
        self.h.flush()

    @rule(data=st.data(), n=st.integers(1, 4))
    def range_at_revision(self, data: st.DataObject, n: int) -> None:
        for i in range(n):
            self.h.range(data.draw(range_requests(self.h.model), label=f"range {i}"))

    @rule(data=st.data())
    def history(self, data: st.DataObject) -> None:
        m = self.h.model
        first = data.draw(st.integers(max(m.compacted, 1), m.head), label="first")
        key, range_end = data.draw(key_ranges(), label="key range")
        self.h.check_history(first, key, range_end)

    @precondition(lambda self: self.h.model.compacted)
    @rule()
    def physical_compaction(self) -> None:
        self.h.check_physical_compaction()

    @rule()
    def restart(self) -> None:
        self.h.restart()

    @precondition(lambda self: self.h.batches)
    @rule(data=st.data())
    def replay(self, data: st.DataObject) -> None:
        batch = data.draw(st.integers(0, len(self.h.batches) - 1), label="batch")
        for i in range(data.draw(st.integers(0, 2), label="fresh commands")):
            self.h.stage(data.draw(commands(self.h.model), label=f"command {i}"))
        self.h.replay(batch)

    @invariant()
    def state_matches(self) -> None:
        self.h.check_state()


TestMvccMachine = MvccMachine.TestCase
