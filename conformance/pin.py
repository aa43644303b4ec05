"""The digest of the corpus this package ships (spec/vectors.md, "Trust").

Written by ``aha vectors generate`` when it regenerates the shipped corpus; commit it with
conformance/vectors/. A corpus with another digest is verified in full before a run uses it.
"""

CORPUS_DIGEST = "5a68f2a64dcf9347d2b930f07584c96f5d667152e4cae21906058a12f3e9c127"
