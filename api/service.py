"""The application layer behind the routes: submitting cases, posting actions, reading cases.

The workflow decides; this layer only checks what must be checked before a workflow is
reached (who may see a case, the application form), talks to Temporal, and reads the read model.
`CaseService` is put together from one module per idea: `api/case_access.py` (connections,
visibility), `api/case_reading.py`, `api/inboxes.py`, `api/submission.py` and `api/acting.py`;
`api/updates.py` holds what every caller of a case's updates shares.
"""
from __future__ import annotations

from api.acting import Acting
from api.inboxes import Inboxes
from api.submission import Submission


class CaseService(Submission, Acting, Inboxes):
    """Everything the routes ask of cases (see the modules of its bases)."""
