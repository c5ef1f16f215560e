"""Insights: what leitplanke stores and what Prometheus measures, turned into answers: memory leaks
as runtime findings, policy trends, KPIs and the level-4 scorecard. Called by the CLI and the service.
"""
