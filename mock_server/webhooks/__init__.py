"""Webhooks as three parts, one job each:

  targets     what a request asks for (WebhookRequest) and where the mock may deliver (allow policy)
  plan        which events a job sends, when, and with which body: pure functions of the job
  dispatcher  the only part that does I/O: claims due deliveries, POSTs them, retries, journals attempts
"""
