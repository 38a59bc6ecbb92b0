"""Mutation testing of the verdicts, run by hand (never in CI: a full run takes hours on two cores).

    pip install -e ".[mutation]"
    python benchmarks/mutation.py                       # every target, every mutant
    python benchmarks/mutation.py --sample 40 --seed 1  # 40 mutants drawn per target (about 2-3 s each)
    python benchmarks/mutation.py --target kit-drift --target webhooks --out docs/operations/mutation-run.md

The tool is cosmic-ray (https://github.com/sixty-north/cosmic-ray, maintained, MIT): it mutates the module file
in place, runs a test command, and puts the file back. In place is why it was chosen over mutmut 3, which runs
mutants through trampolines in a copied tree that only the in-process import sees: most of these verdicts are
tested through a CLI subprocess, a recorder or a mock served for real, and those must run the mutant too.

Each target is a set of modules and the test modules that judge them (TARGETS). Each target runs in a git
worktree of its own of the commit HEAD was when the run began (uncommitted changes, and commits made while it
runs, are not tested), with PYTHONPATH on that worktree, so the
checkout stays untouched and `python -m mock_server.cli` in a test runs the mutant. A mutant is killed when its
test command fails (or times out), survives when it passes; `--equivalent FILE` lists survivors judged
equivalent (YAML: module, code (the mutated line's text, stripped; occurrence N for the Nth line of that text),
operator, reason, and `mutant`, the mutated line, where one operator makes several mutants of it: found by text,
so an entry holds while its line moves), which are reported apart and leave the score. Prints the
score per target and per group (kit: `contract_tests/`; rest: the mock's verdict modules) and every survivor
with its diff; `--out` writes the same as Markdown.
"""

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PYTEST = "python -m pytest -x -q -p no:cacheprovider"


@dataclass(frozen=True)
class Target:
    name: str
    group: str  # kit or rest: the two scores
    modules: tuple[str, ...]
    tests: tuple[str, ...]


TARGETS = [
    Target("kit-drift", "kit", ("contract_tests/differences.py", "contract_tests/acceptance.py",
                                "contract_tests/client_use.py", "contract_tests/drift.py",
                                "contract_tests/recording_drift.py", "contract_tests/baseline.py",
                                "contract_tests/urls.py", "contract_tests/media.py"),
           ("tests/test_media_checks.py", "tests/test_pinned_kit_verdicts.py", "tests/test_drift_you_can_act_on.py",
            "tests/test_har_drift.py", "tests/test_record_replay.py", "tests/test_recordings_of_the_real_world.py",
            "tests/test_webhooks_in_recordings.py", "tests/test_kit_verdicts.py", "tests/test_contract_kit.py",
            "tests/test_kit_cli.py")),
    Target("kit-check", "kit", ("contract_tests/checks.py", "contract_tests/flow.py", "contract_tests/links.py",
                                "contract_tests/check_report.py", "contract_tests/assumptions.py"),
           ("tests/test_check_pages_rules.py", "tests/test_pinned_kit_verdicts.py", "tests/test_kit_verdicts.py",
            "tests/test_contract_kit.py", "tests/test_kit_cli.py")),
    Target("kit-fixture", "kit", ("contract_tests/verification.py", "contract_tests/mock_client.py",
                                  "contract_tests/coverage.py", "contract_tests/pytest_plugin.py",
                                  "contract_tests/receiver.py", "contract_tests/recorded_journal.py"),
           ("tests/test_test_author_rules.py", "tests/test_pinned_kit_verdicts.py", "tests/test_outcome_coverage.py",
            "tests/test_webhook_fixture.py", "tests/test_fixture_factory.py", "tests/test_client_checks.py",
            "tests/test_webhooks_in_recordings.py", "tests/test_kit_cli.py")),
    Target("client-checks", "rest", ("mock_server/client_checks.py",),
           ("tests/test_client_checks.py", "tests/test_pinned_mock_verdicts.py", "tests/test_pinned_kit_verdicts.py",
            "tests/test_evidence.py", "tests/test_verdicts_on_traffic.py")),
    Target("recording", "rest", ("mock_server/recording.py", "mock_server/recording_hooks.py"),
           ("tests/test_webhooks_in_recordings.py", "tests/test_recorder_trust_boundary.py",
            "tests/test_recordings_of_the_real_world.py", "tests/test_recorder_process.py")),
    Target("replay", "rest", ("mock_server/replay.py",),
           ("tests/test_replay.py", "tests/test_pinned_mock_verdicts.py", "tests/test_webhooks_in_recordings.py",
            "tests/test_stale_recordings.py")),
    Target("har", "rest", ("mock_server/har.py",), ("tests/test_har.py", "tests/test_har_hostile.py")),
    Target("webhooks", "rest", ("mock_server/webhooks/dispatcher.py", "mock_server/webhooks/plan.py",
                                "mock_server/webhooks/targets.py"),
           ("tests/test_webhook_plan.py", "tests/test_pinned_mock_verdicts.py", "tests/test_blocked_webhook_log.py",
            "tests/test_settings.py", "tests/test_webhooks.py", "tests/test_webhooks_exactly_once.py")),
    Target("jobs", "rest", ("mock_server/jobs/lifecycle.py", "mock_server/jobs/service.py",
                            "mock_server/jobs/timing.py"),
           ("tests/test_lifecycle.py", "tests/test_pinned_mock_verdicts.py", "tests/test_inprocess.py",
            "tests/test_evidence.py", "tests/test_bounds.py")),
]


@dataclass
class Outcome:
    killed: int = 0
    survived: list = field(default_factory=list)  # (module, line, operator, diff)
    equivalent: list = field(default_factory=list)  # (module, line, operator, reason)
    incompetent: int = 0
    seconds: float = 0.0

    @property
    def score(self) -> float | None:
        judged = self.killed + len(self.survived)
        return None if not judged else 100.0 * self.killed / judged


def _worktree(base: Path, name: str, commit: str) -> Path:
    path = base / name
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", "-q", str(path), commit], check=True)
    return path


def _config(target: Target, timeout: float) -> str:
    modules = ", ".join(f'"{module}"' for module in target.modules)
    return (f'[cosmic-ray]\nmodule-path = [{modules}]\ntimeout = {timeout}\nexcluded-modules = []\n'
            f'test-command = "{PYTEST} {" ".join(target.tests)}"\n\n[cosmic-ray.distributor]\nname = "local"\n')


def _sampled(session: Path, sample: int | None, rng: random.Random) -> int:
    """Mark all but `sample` drawn mutants skipped; how many will run."""
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(str(session), WorkDB.Mode.open) as db:
        items = list(db.pending_work_items)
        if sample is None or sample >= len(items):
            return len(items)
        for item in rng.sample(items, len(items) - sample):
            db.set_result(item.job_id, WorkResult(worker_outcome=WorkerOutcome.SKIPPED))
        return sample


def _equivalents(path: str | None) -> list[dict]:
    if not path:
        return []
    import yaml

    return yaml.safe_load(Path(path).read_text()) or []


def _place(lines: list[str], line: int) -> tuple[str, int]:
    """The text of a line (stripped) and which of the module's lines of that text it is (1: the first)."""
    text = lines[line - 1].strip()
    return text, sum(1 for other in lines[:line] if other.strip() == text)


def _mutated(diff: str) -> str:
    """The mutant's own line(s) of a cosmic-ray diff, without whitespace (as an entry's `mutant` is compared)."""
    return "".join("".join(line[1:].split()) for line in diff.splitlines()
                   if line.startswith("+") and not line.startswith("+++"))


def _reason(equivalents: list[dict], module: str, place: tuple[str, int], operator: str, diff: str) -> str | None:
    """Why a survivor is equivalent, if an entry names it: its module, line, operator and, where the operator makes
    several mutants of one line (NumberReplacer: each number one up and one down), which one (`mutant`)."""
    return next((entry["reason"] for entry in equivalents if (entry.get("module"), entry.get("code"),
                 entry.get("occurrence", 1), entry.get("operator")) == (module, *place, operator)
                 and ("mutant" not in entry or "".join(entry["mutant"].split()) == _mutated(diff))), None)


def _judged(tree: Path, session: Path, equivalents: list[dict]) -> Outcome:
    from cosmic_ray.work_db import WorkDB, use_db
    from cosmic_ray.work_item import TestOutcome, WorkerOutcome

    outcome = Outcome()
    sources: dict[str, list[str]] = {}
    with use_db(str(session), WorkDB.Mode.open) as db:
        for item, result in db.completed_work_items:
            if result.worker_outcome == WorkerOutcome.SKIPPED:
                continue
            mutation = item.mutations[0]
            where = (str(mutation.module_path), mutation.start_pos[0], mutation.operator_name)
            if result.test_outcome == TestOutcome.SURVIVED:
                if where[0] not in sources:
                    sources[where[0]] = (tree / where[0]).read_text().splitlines()
                reason = _reason(equivalents, where[0], _place(sources[where[0]], where[1]), where[2], result.diff or "")
                if reason:
                    outcome.equivalent.append((*where, reason))
                else:
                    outcome.survived.append((*where, _changed_lines(result.diff or "")))
            elif result.test_outcome == TestOutcome.INCOMPETENT:
                outcome.incompetent += 1
            else:  # killed, or the test command timed out or crashed on the mutant: the tests noticed
                outcome.killed += 1
    return outcome


def _changed_lines(diff: str) -> str:
    return " / ".join(line[1:].strip() for line in diff.splitlines()
                      if line[:1] in "+-" and not line.startswith(("+++", "---")))[:200]


def run_target(target: Target, base: Path, commit: str, sample: int | None, rng: random.Random, timeout: float,
               equivalents: list[dict]) -> Outcome:
    tree = _worktree(base, target.name, commit)
    config, session = tree / "cosmic-ray.toml", tree / "session.sqlite"
    config.write_text(_config(target, timeout))
    began = time.monotonic()
    subprocess.run(["cosmic-ray", "init", str(config), str(session)], cwd=tree, check=True)
    count = _sampled(session, sample, rng)
    print(f"{target.name}: {count} mutants of {', '.join(target.modules)}", flush=True)
    env = {**os.environ, "PYTHONPATH": str(tree)}
    subprocess.run(["cosmic-ray", "exec", str(config), str(session)], cwd=tree, env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    outcome = _judged(tree, session, equivalents)
    outcome.seconds = time.monotonic() - began
    return outcome


def _score(outcomes) -> str:
    killed = sum(o.killed for o in outcomes)
    judged = killed + sum(len(o.survived) for o in outcomes)
    return f"{100.0 * killed / judged:.1f}% ({killed} of {judged})" if judged else "nothing judged"


def report(results: dict[str, Outcome], sample: int | None, seed: int, commit: str) -> list[str]:
    lines = [f"# Mutation run: cosmic-ray, {'every mutant' if sample is None else f'{sample} mutants drawn per target'}"
             f" (seed {seed}, commit {commit[:10]})", "", "| target | group | killed | survived | equivalent | score | minutes |",
             "|---|---|---|---|---|---|---|"]
    for target in TARGETS:
        if target.name in results:
            o = results[target.name]
            shown = f"{o.score:.1f}%" if o.score is not None else "-"
            lines.append(f"| {target.name} | {target.group} | {o.killed} | {len(o.survived)} | {len(o.equivalent)} | "
                         f"{shown} | {o.seconds / 60:.1f} |")
    for group in ("kit", "rest"):
        chosen = [results[t.name] for t in TARGETS if t.group == group and t.name in results]
        if chosen:
            lines.append(f"\n{group}: {_score(chosen)}")
    lines += ["", "## Survivors", ""]
    for name, outcome in results.items():
        lines += [f"- {name}: `{module}:{line}` {operator.split('/')[-1]}: {diff}"
                  for module, line, operator, diff in outcome.survived]
    lines += ["", "## Equivalent (left out of the score)", ""]
    for name, outcome in results.items():
        lines += [f"- {name}: `{module}:{line}` {operator.split('/')[-1]}: {reason}"
                  for module, line, operator, reason in outcome.equivalent]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", action="append", choices=[t.name for t in TARGETS], help="only these (repeatable)")
    parser.add_argument("--sample", type=int, help="mutants drawn per target (default: all)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a mutant's tests may take")
    parser.add_argument("--equivalent", metavar="FILE", help="YAML list of survivors judged equivalent")
    parser.add_argument("--out", metavar="FILE", help="also write the report as Markdown")
    args = parser.parse_args()
    if shutil.which("cosmic-ray") is None:
        print("mutation: cosmic-ray is not installed: pip install -e \".[mutation]\"", file=sys.stderr)
        return 2
    rng, equivalents = random.Random(args.seed), _equivalents(args.equivalent)
    chosen = [t for t in TARGETS if not args.target or t.name in args.target]
    # one commit for every target: a commit made while a run takes its hour is not measured halfway
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                            check=True).stdout.strip()
    base = Path(tempfile.mkdtemp(prefix="flux-mock-mutation-"))
    results: dict[str, Outcome] = {}
    try:
        for target in chosen:
            results[target.name] = run_target(target, base, commit, args.sample, rng, args.timeout, equivalents)
            o = results[target.name]
            print(f"{target.name}: {o.killed} killed, {len(o.survived)} survived, {len(o.equivalent)} equivalent, "
                  f"{o.incompetent} incompetent in {o.seconds / 60:.1f} min", flush=True)
    finally:
        for target in chosen:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base / target.name)],
                           capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
    lines = report(results, args.sample, args.seed, commit)
    print("\n".join(lines))
    if args.out:
        Path(args.out).write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
