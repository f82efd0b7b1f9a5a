package configs

import (
	"flag"
	"os"
	"strings"
	"testing"
)

// TestREADMEListsEveryKey keeps the README's configuration reference complete.
func TestREADMEListsEveryKey(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Keys() {
		if !strings.Contains(string(b), "`"+k[0]+"`") {
			t.Errorf("README does not document %s", k[0])
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
