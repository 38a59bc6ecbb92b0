"""The admin API answers as openapi/admin.yaml documents it: schemathesis, positive and negative, in-process."""

import copy

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings

from mock_server.app import create_app
from mock_server.clock import ManualClock
from mock_server.operations.documents import load_bundled

schema = schemathesis.openapi.from_dict(copy.deepcopy(load_bundled("admin.yaml")),
                                        config=schemathesis.Config.from_dict({"generation": {"mode": "all"}}))
schema.app = create_app(clock=ManualClock())
schema.config.update(base_url="http://flux-mock.test")


@schema.exclude(operation_id="adminSeedJobs").parametrize()  # a generated count may be two million jobs
@settings(max_examples=25, deadline=None, database=None, suppress_health_check=list(HealthCheck),
          phases=[Phase.explicit, Phase.generate])
def test_admin_api_conforms_to_its_spec(case):
    if case.operation.definition.raw.get("operationId") in ("adminAddRule", "adminAddScenario"):
        # A rule's outcome must be one the operations it matches can answer: a constraint across fields and
        # the API specs, which JSON Schema cannot state; its 400 is documented and tested on its own.
        case.call_and_validate(excluded_checks=[schemathesis.checks.positive_data_acceptance])
    else:
        case.call_and_validate()


@pytest.mark.anyio
async def test_seeding_jobs():
    transport = httpx.ASGITransport(app=create_app(clock=ManualClock()))
    async with httpx.AsyncClient(transport=transport, base_url="http://flux-mock.test") as admin:
        seeded = await admin.post("/__admin/jobs/seed", json={"count": 50, "key": "k"})
        assert seeded.status_code == 201 and seeded.json()["seeded"] == 50
        assert (await admin.get("/__admin/health")).json()["jobs"] == 50
        status = await admin.get(f"/v2/requests/status/{seeded.json()['sample_request_id']}",
                                 headers={"Ocp-Apim-Subscription-Key": "k"})
        assert status.json()["status"] == "COMPLETED"
        refused = await admin.post("/__admin/jobs/seed", json={"count": 0, "key": "k"})
        assert refused.status_code == 400 and refused.json()["message"].startswith("count:")


@pytest.mark.anyio
async def test_a_path_two_routes_match_goes_to_the_one_that_takes_the_method():
    """`GET /__admin/jobs/seed` asks for the job named "seed" (GET /__admin/jobs/{request_id}): a 404 naming it, not
    a 405 from the seed route, which takes POST only (schemathesis found it, generating "seed" as an id)."""
    transport = httpx.ASGITransport(app=create_app(clock=ManualClock()))
    async with httpx.AsyncClient(transport=transport, base_url="http://flux-mock.test") as admin:
        job = await admin.get("/__admin/jobs/seed")
        wrong = await admin.put("/__admin/jobs/seed")
    assert job.status_code == 404 and "seed" in job.text, job.text
    assert wrong.status_code == 405 and wrong.headers["allow"] == "POST"
