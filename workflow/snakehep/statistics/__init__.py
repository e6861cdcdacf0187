"""Statistical inference: pyhf workspaces built from the merged histograms (workspace) and
checked (checks), the compiled likelihood, maximum-likelihood fits, asymptotic CLs limits and
the ranking of nuisance parameters, and the typed records of the results that pass between
rules (results). May import the foundation, analysis/ and histograms/.
"""
