"""A stand-in for the real gateway, on loopback: flux-mock's own answers over https, with a CA of its own
(not flux-mock's local CA), served in a thread; and the drifts a test can plant in its answers."""

from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import trustme

from mock_server.app import create_app
from mock_server.jobs.timing import Timing
from mock_server.settings import Settings
from tests.support.foreign_server import Rewriting, serving

STATUS = "/v2/requests/status/"


class PlantedDrift:
    """rewrite(path, status, body) for Rewriting: Flux Dev's answers drift from the specs in three ways,
    each once named by drift: an extra field on every poll, a changed type (created_at as epoch seconds) and
    a status the specs do not have (the second poll of a job says UPSCALING)."""

    def __init__(self) -> None:
        self.polls: Counter = Counter()

    def __call__(self, path: str, status: int, body):
        if not (path.startswith(STATUS + "flux-dev_") and status == 200 and isinstance(body, dict)):
            return status, body
        self.polls[path] += 1
        drifted = {**body, "queue_position": 0, "created_at": 1767225600}
        if self.polls[path] == 2 and body.get("status") != "COMPLETED":
            drifted["status"] = "UPSCALING"
        return status, drifted


@contextmanager
def stand_in_gateway(folder: Path, rewrite=None, queued_for: float = 0.3, processing_for: float = 0.6):
    """Yield (its https base URL, the path of its CA certificate). Its jobs take `queued_for` +
    `processing_for` seconds; `rewrite` plants drift (PlantedDrift)."""
    ca = trustme.CA(organization_name="stand-in gateway CA")
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    ca_file, cert_file, key_file = folder / "stand-in-ca.pem", folder / "stand-in.pem", folder / "stand-in-key.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    leaf.cert_chain_pems[0].write_to_path(str(cert_file))
    leaf.private_key_pem.write_to_path(str(key_file))
    app = create_app(Settings(timing=Timing(queued_for=queued_for, processing_for=processing_for)))
    with serving(Rewriting(app, rewrite), tls=(str(cert_file), str(key_file))) as url:
        yield url, ca_file
