"""Files on the grid: Rucio DIDs resolved to their files (with a cache), replicas streamed over
XRootD or downloaded with their size and adler32 checked, retries and the errors a user can act
on; and the batch system's side (slurm.py: a mend of the Slurm executor plugin). Light at
import (rucio and XRootD are imported when used). May import only the foundation modules
(errors, io).
"""
