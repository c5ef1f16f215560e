"""Delivery: change control, GitOps, deployments, DORA and drift between Git and the cluster."""
