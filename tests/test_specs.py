"""The hand-written specs: valid OpenAPI 3.1, every documented operation present, examples valid."""

import json
import os
import subprocess
from pathlib import Path

import jsonschema_rs
import pytest
from openapi_spec_validator import validate
from openapi_spec_validator.readers import read_from_filename

from contract_tests.examples import documented_examples, read_fixtures
from mock_server.answers.shapes import documented_names
from mock_server.resources import spec_dir
from mock_server.operations import load_bundled, load_operations

# The operations the vendor's pages document (shared/api-docs), kept by hand so a dropped or
# renamed endpoint fails CI: (spec file, operationId, method, path).
DOCUMENTED_OPERATIONS = {
    ("flux.yaml", "schnellGetData", "POST", "/flux-1-schnell/v1/getData"),
    ("flux.yaml", "schnellGetDataBatch", "POST", "/flux-1-schnell/v1/getDataBatch"),
    ("flux.yaml", "schnellCheckStatus", "POST", "/flux-1-schnell/v1/checkStatus"),
    ("flux.yaml", "klein4bGenerateImage", "POST", "/flux-2-klein-4b/v1/generateImage"),
    ("flux.yaml", "flux2DevGenerateT2I", "POST", "/generateT2I"),
    ("flux.yaml", "flux2ProTextToImage", "POST", "/flux-2-pro-text-to-image-799/v1/flux-2-pro-text-to-image-request"),
    ("flux.yaml", "flux2ProImageToImage", "POST", "/flux-2-pro-image-to-image-866/v1/flux-2-pro-image-to-image-request"),
    ("flux.yaml", "flux2ProTextToImageTrainer", "POST",
     "/flux-2-pro-text-to-image-trainer-712/v1/flux-2-pro-text-to-image-trainer-request"),
    ("flux.yaml", "flux2ProImageToImageTrainer", "POST",
     "/flux-2-pro-image-to-image-trainer-831/v1/flux-2-pro-image-to-image-trainer-request"),
    ("flux.yaml", "kontextRestoreImage", "POST", "/flux-kontext-restore-image/v1/flux-kontext-restore-image/generate"),
    ("flux.yaml", "fluxPro11UltraGenerate", "POST", "/pro1.1/v1/pro1.1ultra/generateRequest"),
    ("flux.yaml", "fluxProTextToImage", "POST", "/flux-pro/v1/pro/textToImage"),
    ("flux.yaml", "fluxDevTextToImage", "POST", "/flux-dev/v1/dev/textToImage"),
    ("flux.yaml", "fluxDevImageToImage", "POST", "/flux-dev/v1/dev/imageToImage"),
    ("flux.yaml", "fluxFillDevGenerate", "POST", "/flux-fill-dev/v1/flux-fill/generate"),
    ("flux.yaml", "getRequestStatus", "GET", "/v2/requests/status/{request_id}"),
    ("flux.yaml", "fluxGeneralTextToImageRequest", "POST", "/flux-general/v1/flux-general/generateTextToImageRequest"),
    ("flux.yaml", "fluxGeneralGetStatus", "POST", "/flux-general-polling/flux-general/getStatus"),
    ("flux-pro-legacy.yaml", "fluxProLegacyTextToImage", "POST", "/flux-pro/v1/pro/textToImage"),
    ("flux-pro-legacy.yaml", "fluxProGetStatus", "POST", "/flux-pro-polling/pro/getFluxProStatus"),
}
# Called by public clients though no page documents them: each must say so, with its evidence.
UNDOCUMENTED_OPERATIONS = {
    ("public-clients.yaml", "fluxPreviewTextToImage", "POST", "/flux/text-to-image"),
    ("public-clients.yaml", "fluxDevPollingTextToImage", "POST", "/flux-dev/v1/dev/textToImage"),
    ("public-clients.yaml", "fluxDevGetStatus", "POST", "/flux-dev-polling/dev/getFluxDevStatus"),
    ("public-clients.yaml", "flux2DevPrefixedGenerateT2I", "POST", "/flux-2-dev/v1/generateT2I"),
}

# Documented prices, USD a job (None: the page says "No data available").
DOCUMENTED_PRICES = {
    "schnellGetData": 0, "schnellGetDataBatch": 0, "flux2ProTextToImage": 0.06, "flux2ProImageToImage": None,
    "flux2ProTextToImageTrainer": 8, "flux2ProImageToImageTrainer": None, "kontextRestoreImage": 0.04,
    "flux2DevGenerateT2I": None, "fluxPro11UltraGenerate": 0.08, "fluxProTextToImage": 0.03,
    "fluxProLegacyTextToImage": 0.06, "fluxDevTextToImage": 0.025, "fluxDevImageToImage": 0.025,
    "fluxFillDevGenerate": 0.04, "fluxGeneralTextToImageRequest": 0.09,
}

OPERATIONS = {op.operation_id: op for op in load_operations()}


def _validator(schema):
    return jsonschema_rs.validator_for(schema, validate_formats=True)


@pytest.mark.parametrize("name", ["flux.yaml", "flux-pro-legacy.yaml", "public-clients.yaml", "admin.yaml"])
def test_spec_file_is_valid_openapi(name):
    document, base_uri = read_from_filename(str(spec_dir() / name))
    validate(document, base_uri=base_uri)


def test_specs_hold_exactly_the_documented_operations_and_the_undocumented_ones_public_clients_call():
    found = {(op.spec, op.operation_id, op.method, op.path) for op in OPERATIONS.values()}
    known = DOCUMENTED_OPERATIONS | UNDOCUMENTED_OPERATIONS
    assert found - known == set(), "operations in the specs that the pages do not document"
    assert known - found == set(), "operations missing from the specs"
    raw = {data["operationId"]: data for spec in ("public-clients.yaml",)
           for item in load_bundled(spec)["paths"].values() for data in item.values() if isinstance(data, dict)}
    for _, operation_id, _, _ in UNDOCUMENTED_OPERATIONS:
        assert "Not on the pages" in raw[operation_id]["x-assumption"], operation_id


@pytest.mark.parametrize("example", documented_examples(), ids=lambda e: e.relative_path)
def test_documented_example_matches_its_schema(example):
    op = OPERATIONS[example.operation_id]
    schema = op.request_schema if example.direction == "request" else op.response_schema(example.status)
    assert schema is not None, f"{example.relative_path}: no schema to check it against"
    errors = [f"{list(e.instance_path)}: {e.message}" for e in _validator(schema).iter_errors(example.value)]
    assert errors == []
    documented = documented_names(schema)
    assert sorted(_field_names(example.value) - documented) == [], f"{example.relative_path}: undocumented fields"


def _field_names(value) -> set[str]:
    """Every object key in a JSON value, at any depth."""
    if isinstance(value, dict):
        return set(value) | {name for item in value.values() for name in _field_names(item)}
    if isinstance(value, list):
        return {name for item in value for name in _field_names(item)}
    return set()


def test_fixture_files_are_the_spec_examples():
    expected = {example.relative_path: example.value for example in documented_examples()}
    assert read_fixtures() == expected, "fixtures/ is stale: run `python -m contract_tests.examples`"


def test_every_operation_has_an_example_request_and_success_response():
    with_request = {e.operation_id for e in documented_examples() if e.direction == "request"}
    with_success = {e.operation_id for e in documented_examples() if e.direction == "response" and e.status < 300}
    with_body = {op.operation_id for op in OPERATIONS.values() if op.request_schema is not None}
    assert with_body == set(OPERATIONS) - {"getRequestStatus"}
    assert with_body - with_request == set()
    # getFluxProStatus is the one operation whose page documents no answer at all (x-assumption there).
    assert set(OPERATIONS) - with_success == {"fluxProGetStatus"}


@pytest.mark.parametrize("op_id", sorted(DOCUMENTED_PRICES))
def test_documented_price(op_id):
    assert OPERATIONS[op_id].pricing.usd == DOCUMENTED_PRICES[op_id]


def test_klein_is_priced_by_resolution():
    pricing = OPERATIONS["klein4bGenerateImage"].pricing
    assert [pricing.price(s, s) for s in (512, 1024, 1448, 2048)] == [0.0003, 0.0007, 0.0014, 0.0028]
    assert pricing.price(512, 1024) == 0.0007


def _links(op_id):
    links = {}
    for response in OPERATIONS[op_id].responses.values():
        links.update(response.get("links") or {})
    return links


@pytest.mark.parametrize("op_id", sorted(o.operation_id for o in OPERATIONS.values() if o.kind == "queue"))
def test_queue_submit_links_to_the_status_operation(op_id):
    link = _links(op_id)["GetStatus"]
    assert link == {"operationId": "getRequestStatus", "parameters": {"request_id": "$response.body#/request_id"}}


@pytest.mark.parametrize("submit, status, field", [
    ("schnellGetDataBatch", "schnellCheckStatus", "requestId"),
    ("fluxGeneralTextToImageRequest", "fluxGeneralGetStatus", "request_id"),
    ("fluxProLegacyTextToImage", "fluxProGetStatus", "request_id"),
])
def test_older_polling_submits_link_to_their_status_operation(submit, status, field):
    (link,) = _links(submit).values()
    assert link["operationId"] == status
    assert link["requestBody"] == {field: f"$response.body#/{field}"}


def test_queue_submits_document_the_webhook_header_and_callback():
    for op in OPERATIONS.values():
        if op.kind == "queue":
            assert "X-Webhook-URL" in {p["name"] for p in op.parameters}, op.operation_id
    assert set(load_bundled("flux.yaml")["webhooks"]) == {"jobStatus", "kontextEvent", "schnellBatchResult"}


def test_security_schemes_per_operation():
    assert OPERATIONS["flux2DevGenerateT2I"].security == (("X-Secret-Key",),)
    assert OPERATIONS["schnellGetDataBatch"].security == (("X-Secret-Key",), ("Ocp-Apim-Subscription-Key",))
    assert OPERATIONS["fluxDevTextToImage"].security == (("Ocp-Apim-Subscription-Key",),)


def test_kontext_documents_its_exact_validation_messages():
    schema = OPERATIONS["kontextRestoreImage"].request_schema
    messages = {field: spec.get("x-error-messages") for field, spec in schema["properties"].items()}
    assert messages["seed"] == {"*": "seed must be a non-negative integer"}
    assert messages["input_image"]["format"] == "input_image must be a valid URL"
    assert schema["x-error-messages"]["required"] == "input_image is required and must be a string URL"


@pytest.mark.parametrize("schema_name, expected", [
    ("Flux2ProImageToImageRequest", {"type": "string", "enum": ["1", "2", "3"]}),
    ("Flux2ProTextToImageRequest", {"type": "integer", "minimum": 1, "maximum": 4}),
    ("FluxPro11UltraRequest", {"type": "string", "enum": ["1", "2", "3", "4", "5", "6"]}),
    ("KontextRestoreRequest", {"type": "integer", "minimum": 0, "maximum": 2, "default": 2}),
])
def test_safety_tolerance_keeps_each_pages_type(schema_name, expected):
    field = load_bundled("flux.yaml")["components"]["schemas"][schema_name]["properties"]["safety_tolerance"]
    assert {k: v for k, v in field.items() if k in expected} == expected
    assert "x-contradiction" in field


def test_every_recorded_contradiction_points_at_something_in_the_specs():
    document = load_bundled("flux.yaml")
    names = set(OPERATIONS) | set(document["components"]["schemas"]) | set(document["components"]["responses"])
    names |= set(document["components"]["parameters"]) | {"flux-pro-legacy.yaml"}
    for entry in document["x-contradictions"]:
        assert set(entry["where"]) <= names, entry["id"]


def test_each_queue_operations_202_example_carries_its_own_models_id():
    for op in (op for op in OPERATIONS.values() if op.kind == "queue"):
        [example] = [e for e in documented_examples() if e.operation_id == op.operation_id and e.status == 202]
        assert example.value["request_id"].startswith(f"{op.model_id}_"), op.operation_id
        assert example.value["polling_url"].endswith(example.value["request_id"])


ROOT = Path(__file__).resolve().parents[1]


def _redocly(*paths) -> dict:
    """Redocly CLI's lint of these files (one JSON report each, summed): {"errors", "warnings", "problems"}."""
    binary = ROOT / "tests" / "node" / "node_modules" / ".bin" / "redocly"
    if not binary.exists():
        if os.environ.get("CI"):
            pytest.fail("Redocly CLI is missing: the README's test command installs it (npm ci --prefix tests/node)")
        pytest.skip("Redocly CLI is missing: npm ci --prefix tests/node")
    finished = subprocess.run([str(binary), "lint", "--config", str(ROOT / "redocly.yaml"), "--format=json",
                               *map(str, paths)], capture_output=True, text=True, timeout=300,
                              env={**os.environ, "REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"})
    summed, text, decoder = {"errors": 0, "warnings": 0, "problems": []}, finished.stdout.strip(), json.JSONDecoder()
    assert text, finished.stderr[-2000:]
    while text:
        report, end = decoder.raw_decode(text)
        summed["errors"] += report["totals"]["errors"]
        summed["warnings"] += report["totals"]["warnings"]
        summed["problems"] += [(problem["ruleId"], problem["message"]) for problem in report["problems"]]
        text = text[end:].strip()
    return summed


def test_specs_are_clean_under_redocly_lint(tmp_path):
    report = _redocly(*(ROOT / "openapi" / name for name in ("flux.yaml", "flux-pro-legacy.yaml",
                                                             "public-clients.yaml", "admin.yaml")))
    assert (report["errors"], report["warnings"]) == (0, 0), report["problems"][:20]
    broken = tmp_path / "admin.yaml"  # the lint is real: an unquoted comma in a flow mapping is an error
    broken.write_text((ROOT / "openapi" / "admin.yaml").read_text().replace(
        'description: "Jobs matching the filters, on every page."}', "description: Jobs matching the filters, on every page.}"))
    assert _redocly(broken)["errors"] >= 1


def _assumed_markers(node, where="", found=None):
    """(where, keyword) of every x-assumed keyword in a document, and whether the keyword is there."""
    found = [] if found is None else found
    if isinstance(node, dict):
        for keyword in node.get("x-assumed") or ():
            found.append((where, keyword, keyword in node))
        for key, value in node.items():
            _assumed_markers(value, f"{where}/{key}", found)
    elif isinstance(node, list):
        for index, item in enumerate(node):
            _assumed_markers(item, f"{where}/{index}", found)
    return found


def test_every_assumed_keyword_is_marked_where_it_stands_and_the_list_is_the_documented_one():
    """x-assumed names keywords of its own node (a typo would leave an assumption judged as a page's constraint), and
    what the spec assumes is what docs/reference/specs.md lists."""
    from mock_server.operations.assumptions import assumed_constraints
    from mock_server.operations.documents import read_document
    from mock_server.resources import spec_dir

    markers = _assumed_markers(read_document(spec_dir() / "flux.yaml"))
    assert markers and all(present for _, _, present in markers), [m for m in markers if not m[2]]
    assumed = {(assumption.field.split(".")[-1].removesuffix("[]"), assumption.keyword)
               for op in load_operations() for assumption in assumed_constraints(op.request_schema or {})}
    assert assumed == {("prompt", "minLength"), ("width", "minimum"), ("height", "minimum"),
                       ("num_steps", "minimum"), ("steps", "minimum"), ("num_inference_steps", "minimum"),
                       ("num_images", "minimum"), ("learning_rate", "exclusiveMinimum"),
                       ("image_data_url", "anyOf"), ("image_urls", "format"), ("image_url", "format"),
                       ("image", "format"), ("mask", "format"), ("webhook_url", "format"), ("image_size", "anyOf"),
                       ("webhook_events_filter", "enum"), ("loras", "type"), ("control_loras", "type"),
                       ("controlnets", "type"), ("controlnet_unions", "type"), ("ip_adapters", "type"),
                       ("easycontrols", "type")}
    table = (Path(__file__).resolve().parents[1] / "docs" / "reference" / "specs.md").read_text()
    for word in ("minLength: 1", "exclusiveMinimum: 0", "format: uri", "`enum`", "`type: object`", "`required`"):
        assert word in table


def test_a_process_parses_each_spec_file_once_and_bundles_each_spec_once(monkeypatch):
    """Start-up cost: the three vendor specs refer into flux.yaml, and `load_bundled(name)` and
    `load_bundled(name, None)` name one bundle; each file is read once however many bundles refer into it."""
    from mock_server.operations import documents

    read_document, reads = documents.read_document, []
    monkeypatch.setattr(documents, "read_document", lambda path: reads.append(path.name) or read_document(path))
    documents._parsed.cache_clear()
    documents._bundled.cache_clear()
    try:
        for name in (*documents.VENDOR_SPECS, documents.ADMIN_SPEC):
            assert load_bundled(name) is load_bundled(name, None)
    finally:  # later callers bundle again, from the files
        documents._parsed.cache_clear()
        documents._bundled.cache_clear()
    assert "flux.yaml" in reads and len(reads) == len(set(reads)), reads
