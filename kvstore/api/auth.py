"""Authentication at the edge: who is calling, and the cached auth store to check.

Every etcd RPC resolves its caller once, before its handler runs
(``callctx``), as etcd does:

- a ``token`` (or ``authorization``) metadata entry: with auth disabled, any
  token is Unauthenticated "etcdserver: invalid auth token"; with auth enabled,
  it must be a live token of an existing user (same error otherwise);
- no token, TLS with ``--client-cert-auth``: the client certificate's CN is the user;
- neither: no user. Calls that need one then fail with InvalidArgument
  "etcdserver: user name is empty" (``AuthState.require_user``).

The caller is kept in a context variable for the duration of the call (tasks a
handler creates inherit it); services read it with ``AuthGuard.user()`` and check
it against ``AuthGuard.state()``, an ``AuthState`` reloaded whenever the store's
auth revision moves. Writes carry the user and that revision into the command, so
apply re-checks them if the auth store changed in between.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterable
from typing import Any

from kvstore.api.edge import Ctx
from kvstore.auth.jwt_tokens import JwtTokens
from kvstore.auth.perms import AuthState
from kvstore.auth.tokens import TokenKeeper, new_token
from kvstore.errors import AuthOldRevisionError, InvalidAuthTokenError
from kvstore.pb import command_pb2
from kvstore.storage.store import MvccStore

ETCD_PREFIX = "/etcdserverpb."
#: calls that never look at a token (as in etcd)
NO_TOKEN = frozenset({"/etcdserverpb.Auth/Authenticate"})

_CALLER: contextvars.ContextVar[str | None] = contextvars.ContextVar("caller", default=None)


class AuthGuard:
    """The member's view of auth: the cached auth store, tokens, and the caller."""

    def __init__(
        self,
        store: MvccStore,
        keeper: TokenKeeper,
        client_cert_auth: bool,
        jwt: JwtTokens | None = None,
    ) -> None:
        self._store = store
        self.keeper = keeper
        #: with ``--auth-token jwt``: tokens are signed JWTs, checked here alone
        self.jwt = jwt
        self._client_cert_auth = client_cert_auth
        self._state = AuthState(revision=-1)

    def state(self) -> AuthState:
        """The auth store as of the last applied batch (reloaded when it changed)."""
        if self._state.revision != self._store.auth_revision:
            with self._store.read() as view:
                self._state = AuthState.load(view)
        return self._state

    @staticmethod
    def user() -> str | None:
        """The calling user of the current RPC (None: no credentials)."""
        return _CALLER.get()

    def admit(self, metadata: Iterable[tuple[str, Any]], context: Ctx) -> None:
        """Resolve the caller of the current RPC from its metadata (or its client
        certificate) for ``user()``; raises what etcd answers a bad token."""
        _CALLER.set(self.resolve(metadata, context))

    def resolve(self, metadata: Iterable[tuple[str, Any]], context: Ctx) -> str | None:
        token = next((v for k, v in metadata if k in ("token", "authorization")), None)
        state = self.state()
        if token is not None:
            if isinstance(token, bytes):
                token = token.decode(errors="replace")
            token = token.removeprefix("Bearer ")
            if self.jwt is not None:
                return self._jwt_user(token, state)
            name = self.keeper.user_of(token) if state.enabled else None
            if name is None or name not in state.users:
                raise InvalidAuthTokenError()
            return name
        if state.enabled and self._client_cert_auth:
            names = list(context.auth_context().get("x509_common_name") or [])
            if names:
                cn = names[0]
                return cn.decode() if isinstance(cn, bytes) else str(cn)
        return None

    def _jwt_user(self, token: str, state: AuthState) -> str:
        assert self.jwt is not None
        claims = self.jwt.verify(token) if state.enabled else None
        if claims is None or claims.username not in state.users:
            raise InvalidAuthTokenError()
        if claims.revision < state.revision:
            raise AuthOldRevisionError()
        return claims.username

    def new_token(self, name: str, state: AuthState) -> str:
        """A token for ``name``, who just proved its password."""
        if self.jwt is not None:
            return self.jwt.issue(name, state.revision)
        return new_token()

    def authorize(
        self,
        cmd: command_pb2.Command,
        lease_keys: Callable[[int], list[bytes]] = lambda lease_id: [],
    ) -> None:
        """Check the caller may propose ``cmd`` and stamp it for apply's re-check.

        Raises PermissionDenied / "user name is empty" as etcd does."""
        state = self.state()
        self.stamp(cmd, state, self.user())
        state.check_command(cmd, lease_keys)

    def stamp(self, cmd: command_pb2.Command, state: AuthState, user: str | None) -> None:
        """Record who asked and against which auth revision it was checked."""
        cmd.auth_revision = state.revision
        if state.enabled and user:
            cmd.auth_user = user
