"""Delivery: deployments, incidents and the DORA figures measured from them."""
