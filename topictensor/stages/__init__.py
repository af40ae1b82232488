"""Pipeline stages: (input artifact refs, typed config) -> output artifact ref.

Each stage is a pure function of its inputs, parameters and code; see ``topictensor.artifacts``.
"""
