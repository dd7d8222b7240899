"""``redress bench``: what one machine holds, measured on the embedded stack in one run.

First the machine's own limits (broker produce and consume, PostgreSQL transactions, batches
and COPY), then the pipeline (complaints through all five services at a fixed rate and flat
out), replaying projections from a log, our event store beside the ``eventsourcing`` library's,
and what each service process costs in CPU and memory. Every pipeline figure is printed with
its ratio to the measured limits and checked against the targets of issue 9.
"""
