"""The core's pages and the per-request plumbing: organisation, scope, headers."""
