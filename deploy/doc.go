// Package deploy holds esgate's deployment artefacts (Kubernetes, systemd,
// Compose) and the tests that validate them, since no container engine,
// cluster or init system runs in CI: each artefact is checked for what
// matters to a running esgate (ports that exist, probes that answer,
// secrets that rotate, hardening that holds).
package deploy
