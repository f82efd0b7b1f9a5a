// Package logstash reads Logstash pipeline configurations and turns their
// elasticsearch plugins into esgate routes: a parser for the pipeline
// language (sections, plugins, attributes, arrays, hashes, if/else blocks,
// comments, ${VAR} references left as they are) that records where each
// attribute stands in the source, and Migrate, which maps each
// elasticsearch output (and input or filter) to a route and rewrites the
// pipeline to send plain HTTP to esgate, byte for byte elsewhere.
package logstash
