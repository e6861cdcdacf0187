"""Histograms and cutflows as numbers: filling and exact merging of histograms and ROOT files
(store), the exact partial sums of a selection job and their merge (partials), cutflows counted,
written per sample and tabulated (cutflows). Knows nothing of expressions or selections. May
import only the foundation modules.
"""
