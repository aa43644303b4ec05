"""The digest of the corpus this package ships (spec/vectors.md, "Trust").

Written by ``aha vectors generate`` when it regenerates the shipped corpus; commit it with
conformance/vectors/. A corpus with another digest is verified in full before a run uses it.
"""

CORPUS_DIGEST = "9269ca8d0a4e693ed69bb8dbbf0ed7682df4e4622e88b86e3111616a9cb35ba8"
