//go:build race

package h1

// raceEnabled: sync.Pool drops a quarter of its Puts under the race
// detector, by design, so pooled buffers are allocated again at random.
const raceEnabled = true
