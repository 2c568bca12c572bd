"""The relation classifier: pair featurisers, the committee of logistic regressions,
evaluation, and the registry of trained, versioned models.

``data`` (labelled pair sets from files or the store) → ``encoders`` (item text → vector) →
``features`` (two item vectors → symmetric pair features) → ``committee`` (the estimator) →
``model`` (featuriser + committee, scoring in chunks) → ``registry`` (persisted versions).
"""
