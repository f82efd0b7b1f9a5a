package configs

import (
	"flag"
	"os"
	"path/filepath"
	"testing"

	"go.yaml.in/yaml/v3"
)

// TestOAuth2ExampleParses loads configs/examples/oauth2.yml (files are not
// read): an OAuth2 route and a projected-token route with the realm's
// shared secret.

func TestOAuth2ExampleParses(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	fs.Parse([]string{"--config", "examples/oauth2.yml"})
	cfg, err := Load(fl, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 2 || cfg.Routes[0].PolicyProfile != "ingest" || cfg.Routes[1].BearerTokenFile != "/var/run/secrets/esgate/token" {
		t.Errorf("routes %+v", cfg.Routes)
	}
}

// TestKubernetesJWTConfigParses loads the esgate.yml of
// deploy/kubernetes/overlays/jwt's ConfigMap (files are not read).
func TestKubernetesJWTConfigParses(t *testing.T) {
	b, err := os.ReadFile("../deploy/kubernetes/overlays/jwt/esgate-jwt-config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	if err := yaml.Unmarshal(b, &cm); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "esgate.yml")
	if err := os.WriteFile(path, []byte(cm.Data["esgate.yml"]), 0o600); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	fs.Parse([]string{"--config", path})
	cfg, err := Load(fl, env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 1 || cfg.Routes[0].BearerTokenFile != "/var/run/secrets/esgate/token" || cfg.Routes[0].PolicyProfile != "ingest" {
		t.Errorf("routes %+v", cfg.Routes)
	}
}
