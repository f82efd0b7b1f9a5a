//go:build race

package proxy

// raceEnabled: sync.Pool drops a quarter of its Puts under the race
// detector, by design, so pooled objects are allocated again at random.
const raceEnabled = true
