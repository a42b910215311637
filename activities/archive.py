"""The archive activity: the package (banjian/audit/archive.py) written once when a case concludes."""
from __future__ import annotations

from temporalio import activity

from banjian.audit.archive import Archiver


class ArchiveActivities(Archiver):
    @activity.defn(name="archive_case")
    async def archive_case(self, case_id: str) -> str:
        """Write the case's archive package (once); return its SM3 digest (hex)."""
        return (await self.ensure(case_id)).sm3
