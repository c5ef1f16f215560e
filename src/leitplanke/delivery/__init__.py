"""Delivery: change requests, approvals, sync windows and the GitOps writer; deployments, incidents, DORA."""
