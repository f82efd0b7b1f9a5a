package bootstrap

import (
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/test/pki"
)

// TestSecretsFileIsAServeConfig: what bootstrap writes, esgate serve reads.
func TestSecretsFileIsAServeConfig(t *testing.T) {
	dir := t.TempDir()
	ca, _ := pki.NewCA("ca")
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, ca.CertPEM(), 0o644)
	path := filepath.Join(dir, "esgate.secrets")
	s := &Secrets{
		Passwords: map[string]string{"logstash_internal": "pw-123456"},
		APIKeys: map[string]KeySecret{
			"publish":    {ID: "a", Name: "esgate-publish-h", Encoded: "YTpzZWNyZXQ="},
			"monitoring": {ID: "b", Name: "esgate-monitoring-h", Encoded: "YjpzZWNyZXQ="},
		},
	}
	if err := WriteSecrets(path, s, Connection{Hosts: []string{"https://es01:9200"}, SSLCertificateAuthorities: []string{caFile}}, time.Now()); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode())
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fl := configs.RegisterFlags(fs)
	fs.Parse([]string{"--config", path})
	cfg, err := configs.Load(fl, nil)
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
	back, err := ReadSecrets(path)
	if err != nil || back.APIKeys["publish"].Encoded != "YTpzZWNyZXQ=" || back.Passwords["logstash_internal"] != "pw-123456" {
		t.Errorf("read back %+v %v", back, err)
	}
}

func TestPlanDefaults(t *testing.T) {
	o := Options{}
	o.defaults()
	// The default covers Logstash 8's default output (the data stream
	// logs-generic-default) and the guide's logstash-* indices.
	if g, e := o.WriterRoleSpec().String(), "cluster [monitor,manage_index_templates] indices logs-*-* [create_doc,auto_configure] indices logstash-* [index,create_index]"; g != e {
		t.Errorf("writer %q; want %q", g, e)
	}
	if g, e := o.KeySpec("read").String(), "cluster [monitor] indices logs-*-*,logstash-* [read,view_index_metadata]"; g != e {
		t.Errorf("read key %q; want %q", g, e)
	}
	o = Options{}
	if err := ParseModes("ilm", &o.Output); err != nil {
		t.Fatal(err)
	}
	o.Output.IndexPattern = "app-*"
	o.defaults()
	if g, e := o.WriterRoleSpec().String(), "cluster [monitor,manage_index_templates,manage_ilm] indices ecs-logstash,ecs-logstash-* [index,create_index,view_index_metadata,manage]"; g != e {
		t.Errorf("writer %q; want %q", g, e)
	}
	if d := diffRole(o.WriterRoleSpec(), RoleSpec{Cluster: []string{"manage_ilm", "monitor", "manage_index_templates"}, Indices: []IndexPriv{{Names: []string{"ecs-logstash-*", "ecs-logstash"}, Privileges: []string{"manage", "view_index_metadata", "index", "create_index"}}}}); d != "" {
		t.Errorf("order should not matter: %q", d)
	}
	if d := diffRole(o.WriterRoleSpec(), RoleSpec{Cluster: []string{"monitor"}}); d == "" {
		t.Error("missing privileges not detected")
	}
	for _, bad := range []string{"", "streams", "index,nope"} {
		if err := ParseModes(bad, &o.Output); err == nil {
			t.Errorf("modes %q accepted", bad)
		}
	}
	if err := ValidateOnly([]string{"keys:publish", "roles"}); err != nil {
		t.Error(err)
	}
	if err := ValidateOnly([]string{"keys:bogus"}); err == nil {
		t.Error("bogus piece accepted")
	}
}
