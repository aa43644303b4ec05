"""The digest of the corpus this package ships (spec/vectors.md, "Trust").

Written by ``aha vectors generate`` when it regenerates the shipped corpus; commit it with
conformance/vectors/. A corpus with another digest is verified in full before a run uses it.
"""

CORPUS_DIGEST = "aa4c42c605bee4a42c27bd2e432b35a9f37e6a2b99c0f4f183f7a57a16af50f1"
