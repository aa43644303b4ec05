"""The digest of the corpus this package ships (spec/vectors.md, "Trust").

Written by ``aha vectors generate`` when it regenerates the shipped corpus; commit it with
conformance/vectors/. A corpus with another digest is verified in full before a run uses it.
"""

CORPUS_DIGEST = "7934420881c593a20235ea5c30e8f572e8b550a45c4afc553d4395c34e3a768f"
