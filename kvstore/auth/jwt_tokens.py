"""JWT tokens, as etcd's ``--auth-token jwt,...``: signed, checked by any member alone.

A token carries etcd 3.4's claims: ``username``, ``revision`` (of the auth store
when it was issued) and ``exp``. Members check the signature with the public key;
nothing about a token is kept. A token issued before the auth store last changed
is refused with "etcdserver: revision of auth store is old", after which etcd's
clients authenticate again; an expired, malformed or forged one is an invalid
auth token.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from jwt.algorithms import Algorithm, get_default_algorithms

from kvstore.config import JwtConfig

#: key-pair signing methods etcd 3.4 accepts (pub-key and priv-key files)
KEY_PAIR_METHODS = (
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
)  # fmt: skip
#: HMAC methods: the priv-key file's bytes are the secret every member shares
HMAC_METHODS = ("HS256", "HS384", "HS512")
SIGN_METHODS = KEY_PAIR_METHODS + HMAC_METHODS


class JwtKeyError(ValueError):
    """A key file that cannot be read or does not fit the signing method."""


@dataclass(frozen=True)
class Claims:
    username: str
    revision: int


class JwtTokens:
    def __init__(self, config: JwtConfig, clock: Callable[[], float] = time.time) -> None:
        if config.sign_method not in SIGN_METHODS:
            raise JwtKeyError(
                f"sign-method {config.sign_method!r}: use one of {', '.join(SIGN_METHODS)}"
            )
        algorithm = get_default_algorithms()[config.sign_method]
        self._method = config.sign_method
        self._ttl = config.ttl
        self._clock = clock
        self._private = _load(algorithm, config.private_key, "priv-key")
        if config.sign_method in HMAC_METHODS:
            self._public = self._private
        elif config.public_key is None:
            raise JwtKeyError(f"sign-method {config.sign_method} needs pub-key")
        else:
            self._public = _load(algorithm, config.public_key, "pub-key")
        try:  # a key pair that does not match fails here, not at the first login
            self.verify_or_raise(self.issue("check", 0))
        except Exception as exc:  # PyJWT, or the key object refusing the operation
            raise JwtKeyError(f"pub-key does not check what priv-key signs: {exc!r}") from exc

    def issue(self, username: str, revision: int) -> str:
        claims = {"username": username, "revision": revision, "exp": int(self._clock() + self._ttl)}
        return jwt.encode(claims, self._private, algorithm=self._method)

    def verify(self, token: str) -> Claims | None:
        """The token's claims if it is signed by our key and not expired, else None."""
        try:
            return self.verify_or_raise(token)
        except jwt.PyJWTError:
            return None

    def verify_or_raise(self, token: str) -> Claims:
        claims = jwt.decode(
            token,
            self._public,
            algorithms=[self._method],
            options={"require": ["exp"]},
            leeway=0,
        )
        username, revision = claims.get("username"), claims.get("revision")
        if not isinstance(username, str) or not isinstance(revision, int):
            raise jwt.InvalidTokenError("username or revision missing")
        return Claims(username, revision)


def _load(algorithm: Algorithm, path: Path, what: str) -> Any:
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise JwtKeyError(f"{what} {path}: {exc.strerror or exc}") from exc
    try:
        return algorithm.prepare_key(pem)
    except (ValueError, TypeError, jwt.PyJWTError) as exc:
        raise JwtKeyError(f"{what} {path}: not a key for this sign-method ({exc})") from exc
