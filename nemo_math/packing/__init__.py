"""packing: SFT records -> per-bucket packed training data (``nemo-math pack``) and the bucket planner
(``nemo-math plan``).

    render.py    record -> student token ids + loss mask (harmony text or the student's chat template)
    tokens.py    parallel tokenising into an on-disk token store
    binpack.py   best-fit / first-fit decreasing bin packing, lower bound
    balance.py   reasoning-mode rebalancing inside a bucket
    buckets.py   bucket assignment, balance, backfill, packing plan per bucket
    format.py    the packed on-disk format shared with training
    report.py    the PNG report
    planner.py   cost model and layout/bucket search
    stage.py, plan_stage.py   the two commands
"""
