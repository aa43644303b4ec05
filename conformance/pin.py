"""The digest of the corpus this package ships (spec/vectors.md, "Trust").

Written by ``aha vectors generate`` when it regenerates the shipped corpus; commit it with
conformance/vectors/. A corpus with another digest is verified in full before a run uses it.
"""

CORPUS_DIGEST = "8dda586ea410b7347f9e777f705b0bb8124ed82c080dbbf80d383616239a825d"
