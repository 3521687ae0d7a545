"""`make bench-http`: the wrk script, the stand-in worker and the minimal app that
benchmarks/http_bench.py drives."""
