"""What every commit records (run id, job, config hash, run key) and what a write returns."""
from __future__ import annotations

from dataclasses import dataclass

from deltalake.transaction import CommitProperties, Transaction


@dataclass(frozen=True)
class CommitInfo:
    """Run metadata stored in the Delta commit, so ``history`` tells which run wrote what.

    ``app_id``/``app_version`` become Delta's txnAppId/txnVersion: the app id names the
    run key (e.g. ``sendopt:decide-email:2026-03-01/north/alpha``), the version is the
    run's start time in ms, so ``Lake.app_version`` reads back the last run committed.
    """

    run_id: str
    job: str
    config_hash: str
    app_id: str | None = None
    app_version: int | None = None

    def metadata(self) -> dict[str, str]:
        meta = {"sendopt.run_id": self.run_id, "sendopt.job": self.job, "sendopt.config_hash": self.config_hash}
        if self.app_id:
            meta["sendopt.app_id"] = self.app_id
            meta["sendopt.app_version"] = str(self.app_version)
        return meta

    def properties(self, retries: int) -> CommitProperties:
        txns = [Transaction(self.app_id, self.app_version)] if self.app_id and self.app_version else None
        return CommitProperties(custom_metadata=self.metadata(), max_commit_retries=retries, app_transactions=txns)


@dataclass(frozen=True)
class WriteResult:
    table: str
    version: int
    rows: int | None
    files: int | None
    write_id: str
