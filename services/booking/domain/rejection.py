"""A decision against a command. Its reason is the contract's enum, so a reason the
contract does not know fails where it is written. contracts.reasons (one StrEnum, no
imports of ours) is the only thing the domain imports from outside the standard library."""

from dataclasses import dataclass

from contracts.reasons import Reason


@dataclass(frozen=True, slots=True)
class Rejected:
    """A decision against a command: a reason code of the contract and one sentence for a person."""

    reason: Reason
    detail: str

    def __post_init__(self) -> None:
        if not isinstance(self.reason, Reason):  # a bare string, even a valid one, is a mistake
            raise TypeError(f"a rejection's reason is a contracts.reasons.Reason, not {self.reason!r}")
