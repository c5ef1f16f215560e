"""Kyverno policies run unchanged: ``clusterpolicies`` (ClusterPolicy/Policy: loading, autogen,
the foreign rules), ``validating`` (one validate rule), ``patterns``, ``conditions``,
``substituting`` ({{ }} JMESPath variables), ``scalars``, ``resourcefilters`` (match/exclude),
``podsecurity``, ``validatingpolicies`` (ValidatingPolicy) and ``clitests`` (Kyverno CLI suites).
"""
