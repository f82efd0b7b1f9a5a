package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoAgainstBothMajors: make demo's program (bootstrap, serve, the
// go-elasticsearch bulk indexer, _count) against an Elasticsearch 8 and an
// Elasticsearch 9 test server (make demo ES_VERSION=9.1.5).
func TestDemoAgainstBothMajors(t *testing.T) {
	demo := filepath.Join(t.TempDir(), "esgate-demo")
	if out, err := exec.Command("go", "build", "-o", demo, "github.com/esgate/esgate/test/cmd/esgate-demo").CombinedOutput(); err != nil {
		t.Fatalf("building the demo: %v\n%s", err, out)
	}
	for _, v := range []string{"8.15.3", "9.1.5"} {
		out, err := exec.Command(demo, "-esgate", esgateBin, "-es-version", v, "-events", "1000").CombinedOutput()
		s := string(out)
		if err != nil || !strings.Contains(s, "(ES "+v+",") || !strings.Contains(s, "1000 indexed, 0 failed") ||
			!strings.Contains(s, "1000 documents arrived (all of them, nothing lost)") {
			t.Errorf("demo against ES %s: %v\n%s", v, err, s)
		}
	}
}
