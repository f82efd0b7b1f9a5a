// Package faultrelay is a TCP relay that breaks the network between esgate
// and the test server on demand, for fault tests under load: it resets
// every live connection, refuses new ones, stalls both directions, trickles
// answers, cuts an answer in the middle of its body, or closes a
// connection after the request went through and before any answer byte.
// It relays bytes only (TLS passes end to end) and listens on loopback.
//
// It is written here rather than taken from Shopify's toxiproxy: toxiproxy
// runs as a separate server driven over its HTTP API, and these tests need
// in-process control that a test can sequence exactly (arm a fault, watch
// it fire through a counter, lift it) with nothing else to install.
package faultrelay
