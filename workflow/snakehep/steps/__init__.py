"""One module per workflow rule, named as the rule (workflow/rules/RULE.smk, tests in
tests/rules/test_RULE.py): its params builder ``params(context, wildcards)`` (what the job
reads of the config, nothing else), its input function where its inputs depend on the
wildcards, its job ``run(job)``, and the step function that the job and the ``snakehep``
command line both call. context.py is what the rules know when the workflow starts, job.py
runs a job and builds its command line. Module level stays light (the Snakefile imports every
step); the heavy imports are inside the functions. May import everything below it.
"""
