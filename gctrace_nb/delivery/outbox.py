"""The outbox: undelivered webhook payloads, kept durably until a flush delivers them.

A JSON-lines file in the state directory, ``webhook-outbox.jsonl``. A record
holds the URL, the exact body text, the idempotency key, the creation time and
the attempts so far -- never the secret (the signature is computed again when
the record is sent). Appends are whole or absent and fsync'd
(:func:`~gctrace_nb.delivery.audit.append_line`); removals rewrite the file
through a temporary file and :func:`os.replace`, so a process killed at any
point loses nothing. :func:`gctrace_nb.delivery.webhook.flush_outbox` sends
the records again.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Final, Iterator

from . import audit
from .._time import iso_utc
from ..errors import WebhookError

try:  # POSIX; on Windows the outbox works without inter-process locking.
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:  # pragma: no cover
    from .webhook import DeliveryResult

__all__ = ["OUTBOX_FILE", "Outbox", "OutboxRecord"]

OUTBOX_FILE: Final = "webhook-outbox.jsonl"


@dataclass(frozen=True)
class OutboxRecord:
    """One undelivered payload: everything needed to send it again, except the secret."""

    url: str
    body: str
    idempotency_key: str
    created: str
    attempts: int = 0
    last_status: int | None = None
    last_error: str | None = None
    version: int = field(default=1)

    def to_line(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_line(cls, line: str) -> "OutboxRecord | None":
        """Parse a line; ``None`` for a torn or foreign line (kept in the file as it is)."""
        try:
            data = json.loads(line)
            if not isinstance(data, dict):
                return None
            return cls(
                url=str(data["url"]),
                body=str(data["body"]),
                idempotency_key=str(data["idempotency_key"]),
                created=str(data.get("created", "")),
                attempts=int(data.get("attempts") or 0),
                last_status=data.get("last_status"),
                last_error=data.get("last_error"),
                version=int(data.get("version") or 1),
            )
        except (ValueError, KeyError, TypeError):
            return None


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def _locked(path: Path, *, blocking: bool = True) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (released by the kernel if the process dies)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        if fcntl is not None:
            flags = fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB)
            try:
                fcntl.flock(fd, flags)
            except BlockingIOError as exc:
                raise WebhookError(f"another process holds {path.name}: a flush is already running") from exc
        yield
    finally:
        os.close(fd)  # closing drops the lock


class Outbox:
    """A durable queue of undelivered payloads: ``<state_dir>/webhook-outbox.jsonl``.

    Appends are written, flushed and fsync'd before :meth:`append` returns.
    Removals rewrite the file through a temporary file and :func:`os.replace`.
    Both take a short lock (``webhook-outbox.lock``) so an append during a
    flush is never overwritten; :func:`flush_outbox` also holds
    ``webhook-flush.lock`` for its whole run so two flushes never interleave.
    """

    def __init__(self, state_dir: str | os.PathLike[str] | None = None) -> None:
        self.directory = Path(state_dir) if state_dir is not None else audit.default_state_dir()
        self.path = self.directory / OUTBOX_FILE
        self._lock_path = self.directory / "webhook-outbox.lock"
        self.flush_lock_path = self.directory / "webhook-flush.lock"

    def __repr__(self) -> str:
        return f"<Outbox {self.path}>"

    def _ensure_dir(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)

    def append(
        self,
        url: str,
        body: bytes | str,
        idempotency_key: str,
        *,
        attempts: int = 0,
        last_status: int | None = None,
        last_error: str | None = None,
        created: str | None = None,
    ) -> OutboxRecord:
        """Add a payload to the end of the outbox, durably; return the record."""
        text = body.decode("utf-8") if isinstance(body, bytes) else body
        record = OutboxRecord(
            url=url,
            body=text,
            idempotency_key=idempotency_key,
            created=created or iso_utc(),
            attempts=attempts,
            last_status=last_status,
            last_error=last_error,
        )
        self._ensure_dir()
        with _locked(self._lock_path):
            existed = self.path.exists()
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
            try:
                # whole or not at all: a torn last line (a crash mid-append) is ended first, and a
                # write that fails half-way (a full disk) is cut back, as the audit log does
                audit.append_line(fd, record.to_line().encode("utf-8") + b"\n")
                os.fsync(fd)
            finally:
                os.close(fd)
            if not existed:
                _fsync_dir(self.directory)
        return record

    def _read_lines(self) -> list[str]:
        try:
            with open(self.path, encoding="utf-8", newline="\n") as fh:
                return [line.rstrip("\n") for line in fh if line.strip()]
        except FileNotFoundError:
            return []

    def records(self) -> list[OutboxRecord]:
        """Return the queued records, oldest first (unreadable lines are skipped, not lost)."""
        if not self.path.exists():
            return []
        with _locked(self._lock_path):
            lines = self._read_lines()
        return [r for r in map(OutboxRecord.from_line, lines) if r is not None]

    def __len__(self) -> int:
        return len(self.records())

    def _rewrite(self, change: Callable[[str, OutboxRecord | None], str | None]) -> None:
        """Rewrite the file line by line through ``change`` (``None`` drops a line), atomically."""
        with _locked(self._lock_path):
            lines = self._read_lines()
            kept = []
            for line in lines:
                new = change(line, OutboxRecord.from_line(line))
                if new is not None:
                    kept.append(new)
            self._remove_orphans()  # temporary files of rewrites that died (we hold the lock)
            if kept == lines:
                return
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
                    fh.write("".join(line + "\n" for line in kept))
                    fh.flush()
                    os.fsync(fh.fileno())
                os.replace(tmp, self.path)
            except BaseException:  # a full disk: the outbox stays as it was, and no .tmp is left behind
                with contextlib.suppress(OSError):
                    tmp.unlink()
                raise
            _fsync_dir(self.directory)

    def _remove_orphans(self) -> None:
        for orphan in self.directory.glob(f".{self.path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                orphan.unlink()

    def remove(self, idempotency_key: str) -> None:
        """Drop every record with this key (they are the same payload)."""
        self._rewrite(lambda line, rec: None if rec is not None and rec.idempotency_key == idempotency_key else line)

    def mark(self, idempotency_key: str, result: DeliveryResult) -> None:
        """Record another failed delivery of a record: attempts, last status and error."""

        def change(line: str, rec: OutboxRecord | None) -> str:
            if rec is None or rec.idempotency_key != idempotency_key:
                return line
            return replace(
                rec, attempts=rec.attempts + result.attempts, last_status=result.status, last_error=result.error
            ).to_line()

        self._rewrite(change)
