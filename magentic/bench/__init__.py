"""Benchmark suites (GAIA's format), GAIA-style scoring, the parallel runner and its reports.

Modules, in the order a run uses them: `suite` (load and select tasks), `sites` (serve a
suite's local web sites), `runner` (run tasks concurrently, `bench_main`, `merge_main`),
`scoring` (GAIA's answer rules), `results` (results.jsonl, resume, merge), `report`
(accuracy tables, report.md, the leaderboard submission) and `progress` (the live display).
"""
