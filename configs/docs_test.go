package configs

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestReferenceIsGenerated: docs/configuration.md holds exactly the
// reference the config struct's tags generate (make docs), so every key is
// documented with its flag and default, and nothing else.
func TestReferenceIsGenerated(t *testing.T) {
	b, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i, j := strings.Index(s, ReferenceBegin), strings.Index(s, ReferenceEnd)
	if i < 0 || j < i {
		t.Fatal("docs/configuration.md has no generated reference markers")
	}
	if got := s[i+len(ReferenceBegin)+1 : j]; got != Reference() {
		t.Error("docs/configuration.md's reference is stale: run make docs")
	}
	for _, k := range Keys() {
		if !strings.Contains(s, "`"+k[0]+"`") {
			t.Errorf("docs/configuration.md does not document %s", k[0])
		}
	}
}

// TestDocLinks: every relative link in the README and docs/ points at a
// file of the repository (no link outside it, no dead link).
func TestDocLinks(t *testing.T) {
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md")
	link := regexp.MustCompile(`\]\(([^)#]+)(#[^)]*)?\)`)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range link.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") {
				continue
			}
			path := filepath.Join(filepath.Dir(f), target)
			if !strings.HasPrefix(filepath.Clean(path), filepath.Clean("..")) || strings.HasPrefix(filepath.Clean(path), filepath.Clean("../..")) {
				t.Errorf("%s links outside the repository: %s", f, target)
				continue
			}
			if _, err := os.Stat(path); err != nil {
				t.Errorf("%s: dead link %s", f, target)
			}
		}
	}
}

// TestExampleConfigParses loads the shipped example (files are not read).
func TestExampleConfigParses(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	fs.Parse([]string{"--config", "examples/esgate.yml"})
	cfg, err := Load(fl, env(map[string]string{"MONITORING_CLOUD_ID": "x:aG9zdC5leGFtcGxlLmNvbSRlc19pZCRrYl9pZA"}))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 2 || cfg.Routes[1].User != "logstash_system" || cfg.Routes[0].SSLVerificationMode != "full" {
		t.Errorf("routes %+v", cfg.Routes)
	}
}

// TestREADMELegacyRoute: the README's compat-7 route is a valid config.
func TestREADMELegacyRoute(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "```yaml\n# esgate.yml: a route for the old rsyslog")
	if i < 0 {
		t.Fatal("README has no legacy route example")
	}
	block := s[i+len("```yaml\n"):]
	block = block[:strings.Index(block, "```")]
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "legacy_api_key")
	os.WriteFile(keyFile, []byte("id:secret\n"), 0o600)
	cfgFile := filepath.Join(dir, "esgate.yml")
	os.WriteFile(cfgFile, []byte(strings.ReplaceAll(block, "/etc/esgate/legacy_api_key", keyFile)), 0o600)
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	fs.Parse([]string{"--config", cfgFile})
	cfg, err := Load(fl, nil)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil || cfg.Routes[0].RESTAPICompatibility != 7 {
		t.Fatalf("README's legacy route: %v", err)
	}
}
