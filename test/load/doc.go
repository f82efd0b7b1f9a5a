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
//
// Metrics count a run live for Prometheus (esgate load --metrics-listen),
// on a registry the caller owns; Compare sets two merged runs side by
// side and PlotDistributions draws their latency distributions; a merged
// run's ResultsDoc (mapped by ResultsMapping) is written to an index by
// WriteResults (load report --results-target).
package load
