package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDockerfile: the image checks its own health with esgate probe (no
// curl in distroless), exposes nothing (esgate listens on loopback by
// default), runs as non-root, and the build context leaves out history,
// local builds and secrets files.
func TestDockerfile(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	last := df[strings.LastIndex(df, "\nFROM "):]
	for _, want := range []string{`HEALTHCHECK`, `"/usr/local/bin/esgate", "probe"`, "USER nonroot:nonroot", "AS esgate"} {
		if !strings.Contains(last, want) {
			t.Errorf("the final stage lacks %q", want)
		}
	}
	for _, line := range strings.Split(df, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "EXPOSE") {
			t.Errorf("%q: esgate's listeners are loopback by default; nothing is reachable from outside the container", line)
		}
	}
	ign, err := os.ReadFile(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".git", "bin", "**/*.secrets", "**/esgate.secrets*"} {
		if !strings.Contains("\n"+string(ign)+"\n", "\n"+want+"\n") {
			t.Errorf(".dockerignore lacks %s", want)
		}
	}
}
