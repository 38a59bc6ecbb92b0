"""Mutation testing of the contract kit, run by hand: each mutant is one small change to `contract_tests/`
that breaks a verdict (a check that no longer fails, a wrong exit code, a lost message). For each, a copy
of the tree gets the change and the kit's tests run against it; a mutant is killed when a test fails.

    python benchmarks/mutation.py [--only N,N] [--timeout 400]

Prints one line per mutant (killed / SURVIVED, seconds) and the score. Loopback only: the tests start
their own servers on ephemeral ports, and every copy is removed afterwards.
"""

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TESTS = ["tests/test_client_checks.py", "tests/test_kit_cli.py", "tests/test_kit_verdicts.py",
         "tests/test_contract_kit.py", "tests/test_schemathesis_cli.py", "tests/test_readme.py"]

# (file, text to find exactly once, replacement, what the change breaks)
MUTANTS = [
    ("checks.py", "        if previous == \"allOf\" and rule_title(node):",
     "        if False:", "the spec's per-status rules reported as plain schema breaches"),
    ("checks.py", "        if before and after and after < before:", "        if False:", "time order never checked"),
    ("checks.py", "        if before is None or before == status or status in NEXT[before]:",
     "        if True:", "any status may follow any"),
    ("checks.py", "        if before in TERMINAL:\n            return [", "        if False:\n            return [",
     "a changed final status reported as going back"),
    ("checks.py", "            problems += [Problem(check, _join(path, name), f\"absent{context}\", \"present\")",
     "            problems += [", "a field the rules forbid ignored"),
    ("checks.py", "    validator = _validator(json.dumps(schema, sort_keys=True))\n    problems = []\n    for error in",
     "    validator = _validator(json.dumps(schema, sort_keys=True))\n    problems = []\n    return []\n    for error in",
     "schema never checked"),
    ("checks.py", "    return normalised_status(body) in TERMINAL", "    return normalised_status(body) == \"COMPLETED\"",
     "FAILED / ERROR not final"),
    ("checks.py", "            problems.append(Problem(check, _join(path, missing), f\"present (required){context}\", \"absent\"))",
     "            pass", "missing required fields ignored"),
    ("links.py", "        if answers and answers[-1].status_code == 200 and is_final(answers[-1].body):",
     "        if False:", "no re-poll after a final status"),
    ("links.py", "        problems = answer_problems(operation.response_schema(200), answer) + history.observe(job, answer)",
     "        problems = answer_problems(operation.response_schema(200), answer)", "job history not observed"),
    ("links.py", "    if isinstance(answer.get(\"output\"), dict):\n        return list(",
     "    if isinstance(answer.get(\"output\"), dict):\n        return []\n        return list(", "media URLs lost"),
    ("flow.py", "    if status not in operation.documented_statuses or status >= 300:", "    if status >= 500:",
     "submit status not checked"),
    ("flow.py", "        if response.status_code != 200 or not response.content:", "        if not response.content:",
     "media 404 accepted"),
    ("flow.py", "    for where, expected, got in differences(flow.final, delivered):",
     "    for where, expected, got in []:", "webhook body never compared"),
    ("flow.py", "    return [] if expected == got else [(path or \"body\"", "    return [] if True else [(path or \"body\"",
     "leaf differences ignored"),
    ("flow.py", "    if flow.polls and not is_final(flow.final):", "    if False:", "a job that never ends passes"),
    ("checks.py", "    return schema_problems(schema, body) + time_order_problems(schema, body)",
     "    return time_order_problems(schema, body)", "poll bodies not schema-checked"),
    ("suite.py", "    case.call_and_validate(session=SESSION, excluded_checks=EXCLUDED_CHECKS)", "    case.call(session=SESSION)",
     "generated answers not validated"),
    ("suite.py", "        check_webhook(flow, receiver.wait_for(1, f\"/{operation_id}\")[-1], hook)", "        pass",
     "webhooks never checked"),
    ("drift.py", "    if status not in operation.documented_statuses:\n        return [",
     "    if False:\n        return [", "undocumented status not drift"),
    ("drift.py", "        if value is None and header.get(\"required\"):", "        if False:", "missing header not drift"),
    ("drift.py", "        if not content_type.startswith(\"application/json\"):", "        if False:",
     "content type not drift"),
    ("drift.py", "        if media.status_code != 200 or not media.content:", "        if False:",
     "media not downloading is not drift"),
    ("drift.py", "        differences += [Difference(poll.operation.operation_id, \"invalid-flow\"",
     "        differences += [] and [Difference(poll.operation.operation_id, \"invalid-flow\"", "flow problems lost"),
    ("drift.py", "    except httpx.TransportError as error:  # a network failure is never drift",
     "    except ValueError as error:  # a network failure is never drift", "network failure escapes"),
    ("budget.py", "        return operation.pricing.price(media_plan.width, media_plan.height)",
     "        return operation.pricing.price(0, 0)", "every size priced at the cheapest tier"),
    ("budget.py", "        self.spent += price", "        self.spent += 0", "spending never adds up"),
    ("budget.py", "        if operation.is_status:\n            return False", "        if True:\n            return False",
     "every operation free"),
    ("runner.py", "    return FAILED if drifted else (UNREACHABLE if unreachable else CLEAN)",
     "    return FAILED if drifted or unreachable else CLEAN", "network failure counted as drift"),
    ("runner.py", "    if parts.scheme not in (\"http\", \"https\") or not parts.hostname:", "    if False:",
     "bad URLs not refused"),
    ("runner.py", "    if not target.is_flux_mock and not (args.key or \"\").strip():", "    if False:",
     "live target without a key"),
    ("runner.py", "    return FAILED if lines else CLEAN", "    return CLEAN", "report always clean"),
    ("runner.py", "        raise Unreachable(f\"cannot reach {url}: {_reason(error)}\") from None\n    return url",
     "        return url\n    return url", "unreachable target run anyway"),
    ("check_report.py", "        if isinstance(error, NETWORK_ERRORS):\n            return True",
     "        if isinstance(error, NETWORK_ERRORS):\n            return False", "network errors counted as failures"),
    ("check_report.py", "                ElementTree.SubElement(case, \"failure\", message=",
     "                ElementTree.SubElement(case, \"skipped\", message=", "JUnit failures written as skipped"),
    ("target.py", "                if self.jobs_made_fast:\n                    admin.put(\"/timing\", json=saved.json())",
     "                if False:\n                    admin.put(\"/timing\", json=saved.json())", "server timing not restored"),
    ("target.py", "        limit = float(\"inf\") if self.is_flux_mock else (self.max_spend if self.allow_paid else 0.0)",
     "        limit = float(\"inf\")", "cost guard off against the live API"),
    ("failures.py", "    if body is not None:\n        parts += [", "    if False:\n        parts += [",
     "reproduction without its body"),
    ("mock_client.py", "        if problems:\n            raise AssertionError(", "        if False:\n            raise AssertionError(",
     "assert_no_violations never fails"),
    ("mock_client.py", "    lines += [f\"- #{f['seq']} {f['kind']}", "    lines += [] and [f\"- #{f['seq']} {f['kind']}",
     "findings not printed"),
]


def run_mutant(number: int, mutant: tuple, timeout: float) -> tuple[bool, float, str]:
    name, old, new, _ = mutant
    with tempfile.TemporaryDirectory(prefix=f"mutant-{number}-") as folder:
        copy = Path(folder) / "tree"
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(".git", "__pycache__", ".hypothesis"))
        target = copy / "contract_tests" / name
        text = target.read_text()
        if text.count(old) != 1:
            raise SystemExit(f"mutant {number}: {name} has {text.count(old)} copies of {old!r}, not 1")
        target.write_text(text.replace(old, new))
        started = time.monotonic()
        try:
            result = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *TESTS],
                                    cwd=copy, capture_output=True, text=True, timeout=timeout)
            killed, summary = result.returncode != 0, (result.stdout.strip().splitlines() or [""])[-1]
        except subprocess.TimeoutExpired:
            killed, summary = True, f"timed out after {timeout:g} s"
        return killed, time.monotonic() - started, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", help="comma-separated mutant numbers (1-based)")
    parser.add_argument("--timeout", type=float, default=400)
    args = parser.parse_args()
    chosen = [int(n) for n in args.only.split(",")] if args.only else range(1, len(MUTANTS) + 1)
    killed = 0
    for number in chosen:
        mutant = MUTANTS[number - 1]
        dead, seconds, summary = run_mutant(number, mutant, args.timeout)
        killed += dead
        print(f"{number:>3} {'killed  ' if dead else 'SURVIVED'} {seconds:6.1f} s  {mutant[0]:<16} {mutant[3]}"
              f"  [{summary}]", flush=True)
    total = len(list(chosen))
    print(f"mutation score: {killed} of {total} killed ({100 * killed / total:.0f} %)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
