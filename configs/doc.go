// Package configs owns esgate's configuration: the YAML file and flags
// (named after Logstash's elasticsearch output options), ${VAR} expansion,
// defaults, and validation that names the offending key. It opens no sockets.
package configs
