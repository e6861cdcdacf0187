"""Event selection: the expression language (expressions, semantics), its two vectorised kernels
(kernel_numpy: flat arrays and offsets; kernel_awkward), objects, cuts and regions (cuts),
observables, scale factors, correctionlib corrections and variations, and the processing of one
input file chunk by chunk into histograms and a cutflow (processing). May import the foundation, grid/, analysis/ and
histograms/; nothing above it.
"""
