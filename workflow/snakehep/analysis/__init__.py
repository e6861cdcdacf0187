"""The analysis as configured: the config (loaded, validated against the JSON schema, checked for
cross-references), its samples with their inputs resolved (globs, Rucio DIDs) and normalisation,
and the batch plan (selection jobs of a few files, the merge tree). Light (no numpy): the
Snakefile reads it at start-up. May import the foundation modules (errors, io) and grid/.
"""
