from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rejected:
    """A decision against a command: a reason code of the contract and one sentence for a person."""

    reason: str
    detail: str
