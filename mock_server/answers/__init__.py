"""Answers other than the mock's own: an operation's documented examples by name (`Prefer: example=`), and
answers generated from the response schemas (`Prefer: dynamic=true`, `serve --responses generated`, the
kit's `fuzz_client`): spec-valid, deliberately unusual, and true to the job where the spec marks a fact."""
