"""Which status a generated answer shows for a job: only forward along the spec's documented flow
(JobStatus `x-status-flow`: QUEUED may skip PROCESSING; a final status stays), never the same status
more than a few answers in a row, so a client that polls to the end gets there."""

from collections import OrderedDict

from hypothesis import strategies as st

from mock_server.answers.values import Draw
from mock_server.operations import load_bundled

MAX_REPEATS = 3
REMEMBERED_JOBS = 10_000


def documented_flow() -> dict[str, tuple[str, ...]]:
    """The spec's status flow: each status and the statuses it may move to, in document order."""
    schema = load_bundled("flux.yaml")["components"]["schemas"]["JobStatus"]
    return {status: tuple(following) for status, following in schema["x-status-flow"].items()}


class JobFlows:
    """The status each job was last shown (bounded: the oldest jobs are forgotten first)."""

    def __init__(self, flow: dict[str, tuple[str, ...]] | None = None) -> None:
        self.flow = flow or documented_flow()
        self.first = next(iter(self.flow))
        self._shown: OrderedDict[str, tuple[str, int]] = OrderedDict()

    def allowed(self, request_id: str | None, reportable: list[str]) -> list[str]:
        """The statuses this job may show next, of those the answer can report: moving on first, in flow order,
        staying last (hypothesis shrinks towards the first, so a shrunk failure shows the shortest journey)."""
        last, repeats = self._shown.get(request_id, (None, 0)) if request_id else (None, 0)
        start = last or self.first
        moves = self.flow.get(start, ())
        allowed = [status for status in self.flow if status in moves and status in reportable]
        if start in reportable and not (last is not None and repeats >= MAX_REPEATS and allowed):
            allowed.append(start)
        return allowed or list(reportable)

    def next(self, request_id: str | None, reportable: list[str], draw: Draw) -> str:
        allowed = self.allowed(request_id, reportable)
        status = allowed[0] if len(allowed) == 1 else draw(st.sampled_from(allowed), "job status")
        self.shown(request_id, status)
        return status

    def shown(self, request_id: str | None, status: str) -> None:
        if not request_id:
            return
        last, repeats = self._shown.pop(request_id, (None, 0))
        self._shown[request_id] = (status, repeats + 1 if status == last else 1)
        while len(self._shown) > REMEMBERED_JOBS:
            self._shown.popitem(last=False)
