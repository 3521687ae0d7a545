"""Bearer tokens signed with BOOKING_TOKEN_SECRET (HMAC-SHA256) and carrying an
expiry, so checking one costs no database round trip and nothing secret is stored."""

import base64
import hashlib
import hmac
import json
import time
from uuid import UUID


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    def __init__(self, secret: str, ttl_seconds: int) -> None:
        self._key = secret.encode()
        self.ttl = ttl_seconds

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def issue(self, user_id: UUID, now: float | None = None) -> str:
        claims = {"sub": str(user_id), "exp": int((now or time.time()) + self.ttl)}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def verify(self, token: str, now: float | None = None) -> UUID | None:
        """The user id of a genuine, unexpired token; None for anything else."""
        if not token.isascii():  # a genuine token is base64url; compare_digest raises on other text
            return None
        payload, _, signature = token.partition(".")
        if not payload or not hmac.compare_digest(signature, self._sign(payload)):
            return None
        try:
            claims = json.loads(_unb64(payload))
            if claims["exp"] < (now or time.time()):
                return None
            return UUID(claims["sub"])
        except (ValueError, KeyError, TypeError):
            return None
