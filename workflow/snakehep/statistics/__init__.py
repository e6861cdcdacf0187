"""Statistical inference: pyhf workspaces built from the merged histograms (workspace) and
checked (checks), the compiled likelihood, maximum-likelihood fits that find the global
minimum (optimizer), asymptotic CLs limits and the ranking of nuisance parameters, and the typed
records of the results that pass between rules (results). Published likelihoods in and out:
a patch applied from a patchset or a file (patches), a record's files or archive (published),
the scan of every patch (scan), the HEPData submission (hepdata). What-if models for interactive
checks: a systematic removed, a parameter fixed (what_if). May import the foundation,
analysis/ and histograms/.
"""
