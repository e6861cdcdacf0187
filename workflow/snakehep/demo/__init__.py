"""The demo data set: NanoAOD-like ROOT files generated from known truth (kinematics, processes,
a simple detector), so that the whole chain runs on a fresh clone. settings.py (what a demo
file reads of the config) is light, for the Snakefile; the generator needs numpy, awkward and
uproot. May import the foundation and analysis/.
"""
