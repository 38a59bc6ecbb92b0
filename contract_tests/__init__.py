"""flux-mock's contract-test kit: documented examples, schemathesis suites, checks and drift report."""
