"""Self-healing: the redeploy plugin, its ladder and guardrails, the deployment it replaces, and
`synthetics heal`."""
