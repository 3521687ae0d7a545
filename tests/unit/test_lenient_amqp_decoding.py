"""The worker's decoders of AMQP short strings and tables (services/worker/publishing.py):
what pamqp reads they read the same; bytes that are not UTF-8 become U+FFFD instead of
an exception that closed the connection."""

from pamqp import decode, encode

import services.worker.publishing  # noqa: F401 (installs the decoders)
from tests.e2e.test_raw_amqp_properties import RawShortString


def test_valid_tables_and_short_strings_read_as_before():
    for table in [{}, {"a": 1, "b": "text", "c": {"nested": [1, "two", {"x": True}]}, "é": "ü"}]:
        data = encode.field_table(table)
        assert decode.by_type(data, "table") == (len(data), table)
    assert decode.by_type(encode.short_string("amq.rabbitmq.reply-to.é"), "shortstr") == (25, "amq.rabbitmq.reply-to.é")


def test_bytes_that_are_not_utf8_become_replacement_characters():
    assert decode.by_type(encode.short_string(RawShortString(b"ab\xffcd")), "shortstr") == (6, "ab\ufffdcd")
    data = encode.field_table({RawShortString(b"x-\xff"): 1, "ok": {RawShortString(b"\xc3("): "v"}})
    assert decode.by_type(data, "table") == (len(data), {"x-\ufffd": 1, "ok": {"\ufffd(": "v"}})
