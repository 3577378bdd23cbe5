"""No silent success: a run whose records were mostly not scanned must not look like a pass.

A wrong ``--text-field`` rejects every record; writing one reject line per record and exiting 0
would tell a pipeline the data is clean. ``RejectTally`` counts as records go by and refuses
the run when every record (or more than the share the user allows) was rejected, naming the
field it looked for and the fields the records have.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from indexer.readers.records import Reject, RejectKind
from indexer.readers.sources import Source


class TooManyRejects(ValueError):
    """Every record (or more than the allowed share) could not be scanned."""


@dataclass
class RejectTally:
    """Records and rejects seen so far. ``max_share`` None: fail only when all are rejected."""

    text_field: str = "text"
    max_share: float | None = None
    records: int = 0
    rejected: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    # Field names of the first record that lacked the text field.
    fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.max_share is not None and not 0 <= self.max_share <= 1:
            raise ValueError(f"the rejected share must be between 0 and 1, got {self.max_share}")

    def add(self, item: object) -> None:
        self.records += 1
        if isinstance(item, Reject):
            self.add_reject(item.kind, item.fields)

    def add_reject(self, kind: RejectKind | str, fields: Iterable[str] = ()) -> None:
        self.rejected += 1
        self.kinds[str(kind)] += 1
        if not self.fields and str(kind) == RejectKind.MISSING_TEXT:
            self.fields = tuple(fields)

    @property
    def failed(self) -> bool:
        if self.rejected == 0:
            return False
        if self.max_share is None:
            return self.rejected == self.records
        return self.rejected / self.records > self.max_share

    def check(self) -> None:
        """Raise ``TooManyRejects`` when the run must not count as done."""
        if self.failed:
            raise TooManyRejects(self.message())

    def message(self) -> str:
        if self.rejected == self.records:
            head = (
                f"all {self.records:,} records were rejected"
                if self.records > 1
                else "the only record was rejected"
            )
        else:
            head = (
                f"{self.rejected:,} of {self.records:,} records were rejected "
                f"({self.rejected / self.records:.1%}, more than the {self.max_share:.1%} allowed)"
            )
        kinds = ", ".join(f"{n:,} {k}" for k, n in self.kinds.most_common())
        text = f"{head} ({kinds})"
        if self.kinds.get(RejectKind.MISSING_TEXT):
            have = ", ".join(repr(f) for f in self.fields) or "no fields"
            text += (
                f"; looked for the text in field {self.text_field!r}, the records have "
                f"{have}: pick one with --text-field"
            )
        return text


def first_record_fields(sources: Iterable[Source]) -> tuple[str, ...]:
    """The field names of the first record of the first source that holds records."""
    from indexer.readers.read import read_values
    from indexer.readers.streams import InputReadError

    for source in sources:
        try:
            for _, value in read_values(source):
                if isinstance(value, dict):
                    return tuple(value)
                break
        except InputReadError:
            continue
    return ()
