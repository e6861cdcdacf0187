"""Figures: data/MC stacks with ratio panels, the Brazil plot of the limits, pulls and impact
rankings, the exclusion contours of a reinterpretation, in one style (mplhep). Takes histograms
and result records; reads no files itself and imports nothing of the selection. May import the
foundation, histograms/ and statistics/.
"""
