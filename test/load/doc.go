// Package load is esgate's bulk traffic generator (esgate load): it builds
// Logstash-like bulk requests (generated ECS events, or an NDJSON file),
// sends them closed-loop or open-loop at a fixed event rate, and reports
// throughput, latency (from the scheduled send time) and service time
// percentiles, and outcomes per HTTP status and per bulk item error type.
// It can verify through _count that every acknowledged event arrived.
//
// A test can be split into shards (Shard), one per process or pod, which
// start together at a Barrier of ready documents in the cluster, interleave
// their open-loop schedules, and write interval Records: counters and
// HdrHistograms in HdrHistogram's compressed encoding. Merge turns any set
// of one run's records into one Result, refusing missing or duplicate
// shards, and PlotSVG draws latency over time per shard.
package load
