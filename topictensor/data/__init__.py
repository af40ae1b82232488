"""Package data: ``synth_vocabularies.json``, the vocabularies of the synthetic corpus
(:mod:`topictensor.synth`)."""
