import os

# Tests run on small machines: keep torch from oversubscribing the cores.
os.environ.setdefault("OMP_NUM_THREADS", "2")
