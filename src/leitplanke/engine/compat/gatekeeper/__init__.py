"""Gatekeeper policies run unchanged: ``constrainttemplates`` (templates and constraints),
``reviews`` (input.review and data.inventory), ``regoprograms`` (the only module that imports the Rego
runtime) and ``gatortests`` (``gator verify`` suites).
"""
