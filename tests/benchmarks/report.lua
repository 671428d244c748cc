-- wrk reporter: one JSON line with throughput, errors and latency percentiles (microseconds).
-- run.py finds the line by its "BENCH_JSON " prefix.
done = function(summary, latency, requests)
  local e = summary.errors
  local seconds = summary.duration / 1000000
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_s": %.3f, "requests_per_s": %.2f, "bytes": %d, ' ..
    '"errors": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}, ' ..
    '"latency_us": {"mean": %.1f, "stdev": %.1f, "max": %d, ' ..
    '"p50": %d, "p75": %d, "p90": %d, "p95": %d, "p99": %d}}\n',
    summary.requests, seconds, summary.requests / seconds, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.stdev, latency.max,
    latency:percentile(50), latency:percentile(75), latency:percentile(90),
    latency:percentile(95), latency:percentile(99)))
end
