"""Generated answers state only true facts (issue 32, item 4): what a drawn answer says of its media (a fal
image's width, height and content_type, a status body's media_type) is what its media URL serves, its times
are strings where the page says string, and the kit's own judges pass them, seed after seed. In process, on a
manual clock: `check` for one seed as it runs, and its link-following and media judges for seeds 1 to 20."""

import io

import httpx
import pytest

from contract_tests.check_report import CheckReporter
from contract_tests.checks import answer_problems
from contract_tests.flow import check_media, submit_and_follow
from contract_tests.examples import request_example
from contract_tests.links import links_of
from contract_tests.target import DEFAULT_KEY, Target, _SyncASGI, variant_headers
from mock_server.app import create_app
from mock_server.clock import ManualClock
from mock_server.jobs.timing import Timing
from mock_server.operations import load_operations
from mock_server.settings import KeyConfig, Settings

OPERATIONS = {op.operation_id: op for op in load_operations()}
SUBMITS = sorted(op.operation_id for op in OPERATIONS.values() if op.spec != "public-clients.yaml"
                 and any(links_of(op, code) for code in op.documented_statuses))
SYNC = ("schnellGetData", "klein4bGenerateImage", "flux2DevGenerateT2I")


def generated_app(seed: int):
    settings = Settings(keys={DEFAULT_KEY: KeyConfig(balance=1_000_000)}, timing=Timing(mode="per-poll"),
                        responses="generated", seed=seed)
    return create_app(settings, clock=ManualClock())


def _headers(operation) -> dict:
    target = Target()
    return {**target.headers_for(operation), **variant_headers(operation)}


@pytest.mark.parametrize("seed", range(1, 21))
def test_every_job_and_sync_answer_drawn_for_a_seed_keeps_the_pages_rules_and_tells_the_truth(seed):
    app = generated_app(seed)
    target = Target()
    failures = []
    with httpx.Client(transport=_SyncASGI(app), base_url="http://flux-mock.test") as client:
        for operation_id in SUBMITS:
            operation = OPERATIONS[operation_id]
            flow = submit_and_follow(client, OPERATIONS, operation, request_example(operation_id),
                                     _headers(operation), target.headers_for, polls=30, interval=0)
            check_media(flow, client)
            failures += [str(failure) for failure in flow.failures]
        for operation_id in SYNC:
            operation = OPERATIONS[operation_id]
            answer = client.post(operation.path, json=request_example(operation_id), headers=_headers(operation))
            failures += [f"{operation_id}: {problem.line()}" for problem in
                         answer_problems(operation.response_schema(answer.status_code), answer.json())]
    assert failures == [], "\n\n".join(failures)


def test_a_drawn_fal_image_states_the_size_and_type_its_url_serves():
    """The fal-style result (flux-general getStatus): width, height and content_type are the served image's."""
    from PIL import Image

    app = generated_app(1)
    operation = OPERATIONS["fluxGeneralTextToImageRequest"]
    stated = 0
    with httpx.Client(transport=_SyncASGI(app), base_url="http://flux-mock.test") as client:
        for _ in range(8):
            body = {**request_example(operation.operation_id), "image_size": "landscape_4_3"}
            submitted = client.post(operation.path, json=body, headers=_headers(operation)).json()
            result = {}
            for _ in range(10):
                result = client.post("/flux-general-polling/flux-general/getStatus",
                                     json={"request_id": submitted["request_id"]}, headers=_headers(operation)).json()
                if "images" in result:
                    break
            for image in result.get("images", []):  # each optional field may be left out: what is there is true
                served = client.get(image["url"])
                with Image.open(io.BytesIO(served.content)) as decoded:
                    assert decoded.size == (1024, 768)
                    assert (image.get("width", 1024), image.get("height", 768)) == decoded.size
                assert image.get("content_type", "image/png") == served.headers["content-type"] == "image/png"
                stated += len({"width", "height", "content_type"} & set(image))
    assert stated > 0, "no draw stated anything of its images"


def test_check_passes_against_generated_answers(capsys):
    """`check` itself, in process, against a mock whose every answer is drawn (seed 5, which broke it once)."""
    import pytest as runner

    target = Target(max_examples=3, operations=("fluxDevTextToImage", "fluxGeneralTextToImageRequest",
                                                "getRequestStatus", "schnellGetData"))
    target.__dict__["app"] = generated_app(5)  # the in-process app check tests
    reporter = CheckReporter(target, __import__("sys").stdout)
    code = runner.main(["--pyargs", "contract_tests.suite", "-p", "no:cacheprovider", "-p", "no:terminal",
                        "--assert=plain", "-W", "ignore"], plugins=[reporter])
    output = capsys.readouterr().out
    assert code == 0 and reporter.failed == 0, output[-4000:]
