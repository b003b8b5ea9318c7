"""Who may use the staff workspace: local accounts with argon2 password hashes, login lockout, and server-side
sessions with a CSRF token each.

Two parts on purpose. An *identity provider* answers "who is this?" — here `LocalAccounts` from a username
and password; an OIDC provider would answer from an authorization code and map its claims onto the same
`StaffIdentity` (docs/staff.md). `Sessions` then takes over, whoever vouched for the person: the session
cookie, its lifetime, the CSRF token and logout work the same for both.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, Protocol

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, select
from zxcvbn import zxcvbn

from bot.handoff_store import (
    Database,
    HandoffConversation,
    LoginFailure,
    StaffAccount,
    StaffSession,
    utcnow,
)
from bot.staff_protocol import StaffInfo

Role = Literal["agent", "admin"]
ROLES: tuple[Role, ...] = ("agent", "admin")
MIN_PASSWORD_LENGTH = 10
MIN_PASSWORD_SCORE = 3
"""zxcvbn's scale: 3 = "safely unguessable: moderate protection from offline slow-hash scenario"."""
_USERNAME = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class StaffIdentity:
    account_id: int
    username: str
    display_name: str
    team: str | None
    role: Role

    @property
    def admin(self) -> bool:
        return self.role == "admin"

    def info(self, status: Literal["available", "away", "offline"] = "offline") -> StaffInfo:
        return StaffInfo(username=self.username, display_name=self.display_name, team=self.team, role=self.role,
                         status=status)


class AccountError(ValueError):
    """A wrong argument to account management, worded for the operator."""


class LoginRefused(PermissionError):
    """Wrong username or password (never saying which)."""


class LockedOut(PermissionError):
    def __init__(self, until: datetime):
        super().__init__(f"locked until {until.isoformat()}")
        self.until = until


class IdentityProvider(Protocol):
    """Vouches for a person at login. Local accounts check a password; an OIDC provider would check the
    ID token from its callback instead (and expose its own login route)."""

    def authenticate(self, username: str, password: str) -> StaffIdentity: ...

    def identity(self, account_id: int) -> StaffIdentity | None:
        """The current state of an account (role changes, deactivation take effect at once)."""
        ...


class LocalAccounts:
    """Accounts in the database, managed with `siwi staff add/remove/passwd/list`."""

    def __init__(self, database: Database, lockout_attempts: int = 5, lockout_minutes: float = 15,
                 hasher: PasswordHasher | None = None):
        self._db = database
        self._attempts = lockout_attempts
        self._lockout = timedelta(minutes=lockout_minutes)
        self._hasher = hasher or PasswordHasher()
        self._dummy_hash = self._hasher.hash(secrets.token_urlsafe(16))

    # --- management (CLI) ------------------------------------------------------------------------------

    def add(self, username: str, password: str, display_name: str, team: str | None, role: Role) -> StaffIdentity:
        username = _check_username(username)
        _check_password(password, username, display_name)
        if role not in ROLES:
            raise AccountError(f"role must be one of {', '.join(ROLES)}")
        if not display_name.strip():
            raise AccountError("the display name is empty (it is what citizens see, e.g. 'Frau Muster')")
        with self._db.session() as s:
            if s.scalar(select(StaffAccount).where(StaffAccount.username == username)):
                raise AccountError(f"an account {username!r} exists already (use `siwi staff passwd`)")
            account = StaffAccount(username=username, display_name=display_name.strip(),
                                   team=(team or "").strip() or None, role=role,
                                   password_hash=self._hasher.hash(password), active=True,
                                   password_changed_at=utcnow())
            s.add(account)
            s.flush()
            return _identity(account)

    def set_password(self, username: str, password: str) -> None:
        """A new password ends every session of the account and lifts a lockout."""
        _check_password(password, username)
        with self._db.session() as s:
            account = self._account(s, username)
            account.password_hash = self._hasher.hash(password)
            account.password_changed_at = utcnow()
            s.execute(delete(StaffSession).where(StaffSession.account_id == account.id))
            s.execute(delete(LoginFailure).where(LoginFailure.username == account.username))

    def remove(self, username: str) -> int:
        """Delete the account and its sessions; conversations it held go back to the queue. Returns how many."""
        with self._db.session() as s:
            account = self._account(s, username)
            held = s.scalars(select(HandoffConversation).where(HandoffConversation.assigned_staff_id == account.id,
                                                               HandoffConversation.state == "assigned")).all()
            for conversation in held:
                conversation.state, conversation.assigned_staff_id, conversation.assigned_at = "waiting", None, None
                conversation.queued_at = conversation.updated_at = utcnow()
            s.execute(delete(StaffSession).where(StaffSession.account_id == account.id))
            s.delete(account)
            return len(held)

    def list(self) -> list[StaffInfo]:
        with self._db.session() as s:
            return [StaffInfo(username=a.username, display_name=a.display_name, team=a.team, role=a.role,
                              active=a.active)
                    for a in s.scalars(select(StaffAccount).order_by(StaffAccount.username))]

    def by_username(self, username: str) -> StaffIdentity | None:
        with self._db.session() as s:
            account = s.scalar(select(StaffAccount).where(StaffAccount.username == username.strip().lower(),
                                                          StaffAccount.active.is_(True)))
            return _identity(account) if account else None

    @staticmethod
    def _account(s, username: str) -> StaffAccount:
        account = s.scalar(select(StaffAccount).where(StaffAccount.username == username.strip().lower()))
        if account is None:
            raise AccountError(f"no account {username!r}")
        return account

    # --- IdentityProvider -------------------------------------------------------------------------------

    def authenticate(self, username: str, password: str, address: str = "") -> StaffIdentity:
        """Check the password; count failures per name (existing or not) and client address, and lock that
        pair after too many: a stranger failing on a staff member's name locks only themselves out."""
        name = username.strip().lower()[:64]
        key = f"{name[:40]}@{hashlib.sha256(address.encode()).hexdigest()[:20]}" if address else name
        now = utcnow()
        with self._db.session() as s:
            failure = s.get(LoginFailure, key)
            if failure and failure.locked_until and failure.locked_until > now:
                raise LockedOut(failure.locked_until)
            account = s.scalar(select(StaffAccount).where(StaffAccount.username == name,
                                                          StaffAccount.active.is_(True)))
            ok = self._verify(account.password_hash if account and account.password_hash else None, password)
            if ok and account is not None:
                if failure:
                    s.delete(failure)
                if self._hasher.check_needs_rehash(account.password_hash or ""):
                    account.password_hash = self._hasher.hash(password)
                return _identity(account)
            if failure is None:
                failure = LoginFailure(username=key, failures=0)
                s.add(failure)
            if failure.locked_until and failure.locked_until <= now:
                failure.failures, failure.locked_until = 0, None
            failure.failures += 1
            failure.last_failure_at = now
            if failure.failures >= self._attempts:
                failure.locked_until = now + self._lockout
        if failure.locked_until:
            raise LockedOut(failure.locked_until)
        raise LoginRefused()

    def _verify(self, password_hash: str | None, password: str) -> bool:
        try:
            # Unknown names cost the same time as known ones: no hint which names exist.
            return self._hasher.verify(password_hash or self._dummy_hash, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def identity(self, account_id: int) -> StaffIdentity | None:
        with self._db.session() as s:
            account = s.get(StaffAccount, account_id)
            return _identity(account) if account and account.active else None


@dataclass(frozen=True)
class SessionInfo:
    token_hash: str
    identity: StaffIdentity
    csrf_token: str
    expires_at: datetime

    def csrf_ok(self, presented: str | None) -> bool:
        return bool(presented) and hmac.compare_digest(presented.encode(), self.csrf_token.encode())


class Sessions:
    """Server-side sessions: the cookie holds a random token, the database its SHA-256, the expiry and the
    CSRF token (synchronizer pattern: the pages get it from the login response or /staff/api/me)."""

    def __init__(self, database: Database, provider: IdentityProvider, lifetime_minutes: float):
        self._db = database
        self._provider = provider
        self._lifetime = timedelta(minutes=lifetime_minutes)

    def create(self, identity: StaffIdentity) -> tuple[str, SessionInfo]:
        token = secrets.token_urlsafe(32)
        info = SessionInfo(_hash(token), identity, secrets.token_urlsafe(32), utcnow() + self._lifetime)
        with self._db.session() as s:
            s.execute(delete(StaffSession).where(StaffSession.expires_at < utcnow()))
            s.add(StaffSession(token_hash=info.token_hash, account_id=identity.account_id,
                               csrf_token=info.csrf_token, expires_at=info.expires_at))
        return token, info

    def resolve(self, token: str | None) -> SessionInfo | None:
        if not token or len(token) > 128:
            return None
        with self._db.session() as s:
            row = s.get(StaffSession, _hash(token))
            if row is None:
                return None
            if row.expires_at <= utcnow():
                s.delete(row)
                return None
            account_id, csrf, expires = row.account_id, row.csrf_token, row.expires_at
        identity = self._provider.identity(account_id)
        if identity is None:
            return None
        return SessionInfo(_hash(token), identity, csrf, expires)

    def still_valid(self, session: SessionInfo) -> bool:
        """For long-lived sockets: the session is neither expired nor logged out."""
        if session.expires_at <= utcnow():
            return False
        with self._db.session() as s:
            return s.get(StaffSession, session.token_hash) is not None

    def revoke(self, token_hash: str) -> None:
        with self._db.session() as s:
            s.execute(delete(StaffSession).where(StaffSession.token_hash == token_hash))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _identity(account: StaffAccount) -> StaffIdentity:
    return StaffIdentity(account.id, account.username, account.display_name, account.team, account.role)


def _check_username(username: str) -> str:
    name = username.strip().lower()
    if not _USERNAME.match(name):
        raise AccountError("usernames are 1–64 of a–z 0–9 . _ @ - (starting with a letter or digit)")
    return name


def _check_password(password: str, *personal: str) -> None:
    """At least MIN_PASSWORD_LENGTH characters and not guessable: zxcvbn (Dropbox's estimator, with its lists
    of common passwords, names, keyboard patterns and repeats) must rate it 3 of 4 or better, judged also
    against the account's own name ("aaaaaaaaaa", "passwort123", "qwertzuiop" are refused)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password needs at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > 1024:
        raise AccountError("the password is longer than 1024 characters")
    rating = zxcvbn(password[:100], user_inputs=[word for text in personal for word in text.split() if word])
    if rating["score"] < MIN_PASSWORD_SCORE:
        hint = rating["feedback"].get("warning") or "it is easy to guess"
        raise AccountError(f"the password is too easy to guess ({hint.rstrip('.')}); use a longer phrase of "
                           "unrelated words")
