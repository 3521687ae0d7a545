"""The dead-letter header names are part of the contract that operators and other
services read (docs/reliability.md, docs/dlq.md): the vocabulary the worker writes
and the tool reads must keep the documented names."""

from pathlib import Path

from contracts import dead_letters

DOCUMENTED = {
    "REASON_HEADER": "x-booking-reason",
    "ERROR_CLASS_HEADER": "x-booking-error-class",
    "ERROR_MESSAGE_HEADER": "x-booking-error-message",
    "ATTEMPTS_HEADER": "x-booking-attempts",
    "FIRST_FAILURE_HEADER": "x-booking-first-failure",
    "LAST_FAILURE_HEADER": "x-booking-last-failure",
    "PARTITION_HEADER": "x-booking-partition",
    "DETAIL_HEADER": "x-booking-detail",
    "REPLAYED_AT_HEADER": "x-booking-replayed-at",
}
DOCS = Path(__file__).parents[2] / "docs"


def test_header_names_are_the_documented_ones():
    assert {name: getattr(dead_letters, name) for name in DOCUMENTED} == DOCUMENTED
    documentation = (DOCS / "reliability.md").read_text() + (DOCS / "dlq.md").read_text()
    assert [header for header in DOCUMENTED.values() if header not in documentation] == []


def test_the_worker_s_headers_and_the_broker_s_are_failure_records_but_others_are_not():
    for header in [*DOCUMENTED.values(), "x-death", "x-first-death-reason", "x-last-death-queue", "x-delivery-count"]:
        assert dead_letters.is_failure_record(header), header
    for header in ["traceparent", "x-booking", "x-tenant"]:
        assert not dead_letters.is_failure_record(header), header
