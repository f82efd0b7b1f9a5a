package configs

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/esgate/esgate/auth/bootstrap"
	"github.com/esgate/esgate/test/pki"
)

// TestSecretsFileIsAServeConfig: what bootstrap writes, esgate serve reads.
func TestSecretsFileIsAServeConfig(t *testing.T) {
	dir := t.TempDir()
	ca, _ := pki.NewCA("ca")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.CertPEM(), 0o644)
	path := filepath.Join(dir, "esgate.secrets")
	s := &bootstrap.Secrets{
		Passwords: map[string]string{"logstash_internal": "pw-123456"},
		APIKeys: map[string]bootstrap.KeySecret{
			"publish":    {ID: "a", Name: "esgate-publish-h", Encoded: "YTpzZWNyZXQ="},
			"monitoring": {ID: "b", Name: "esgate-monitoring-h", Encoded: "YjpzZWNyZXQ="},
		},
	}
	if err := bootstrap.WriteSecrets(path, s, bootstrap.Connection{Hosts: []string{"https://es01:9200"}, SSLCertificateAuthorities: []string{caFile}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := RegisterFlags(fs)
	fs.Parse([]string{"--config", path})
	cfg, err := Load(fl, nil)
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Routes) != 2 || cfg.Routes[0].Name != "publish" || cfg.Routes[0].Listen != "127.0.0.1:9200" ||
		cfg.Routes[1].Name != "monitoring" || cfg.Routes[1].AuthKind() != "api_key" || cfg.Routes[1].Upstreams()[0].Host != "es01:9200" {
		t.Errorf("routes %+v", cfg.Routes)
	}
	back, err := bootstrap.ReadSecrets(path)
	if err != nil || back.APIKeys["publish"].Encoded != "YTpzZWNyZXQ=" || back.Passwords["logstash_internal"] != "pw-123456" {
		t.Errorf("read back %+v %v", back, err)
	}
}
