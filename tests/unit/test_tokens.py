"""The gateway's bearer tokens (services/gateway/tokens.py): anything but a genuine,
unexpired token is None, never an exception."""

from uuid import UUID

import pytest

from services.gateway.tokens import TokenSigner

SIGNER = TokenSigner("a-test-secret", 3600)
GOOD = SIGNER.issue(UUID("11111111-2222-4333-8444-555555555555"))


@pytest.mark.parametrize(
    "token",
    [
        "é",
        "é.é",
        GOOD + "é",
        GOOD.split(".")[0] + ".ü" + GOOD.split(".")[1][1:],
        "Ã©.Ã©",  # UTF-8 bytes of é read as Latin-1, the way HTTP headers are decoded
        "\udcff.\udcff",  # a lone surrogate
        "payload.sig\x00",
        "",
        ".",
    ],
)
def test_a_token_that_is_not_ascii_or_not_genuine_is_refused(token):
    assert SIGNER.verify(token) is None


def test_a_genuine_token_is_accepted():
    assert str(SIGNER.verify(GOOD)) == "11111111-2222-4333-8444-555555555555"
