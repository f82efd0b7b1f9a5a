// Package load is esgate's bulk traffic generator (esgate load): it builds
// Logstash-like bulk requests (generated ECS events, or an NDJSON file),
// sends them closed-loop or open-loop at a fixed event rate, and reports
// throughput, latency (from the scheduled send time) and service time
// percentiles, and outcomes per HTTP status and per bulk item error type.
// It can verify through _count that every acknowledged event arrived.
package load
