package deploy

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
)

// TestCompose: the Compose file loads with compose-go (the Compose
// specification's reference loader), its services share one network
// namespace, esgate starts after bootstrap succeeded and Logstash after
// esgate is healthy by its own probe.
func TestCompose(t *testing.T) {
	dir := filepath.Join(repoRoot(t), "deploy", "compose")
	// The password file is the user's; a stand-in lets the loader resolve it.
	pw := filepath.Join(dir, "elastic_password")
	if _, err := os.Stat(pw); os.IsNotExist(err) {
		if err := os.WriteFile(pw, []byte("changeme\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Remove(pw) })
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(dir, "compose.yaml")}, cli.WithWorkingDirectory(dir))
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	svc := func(name string) (s struct {
		NetworkMode string
		DependsOn   map[string]string
		Command     []string
		Health      []string
	}) {
		ps, err := p.GetService(name)
		if err != nil {
			t.Fatal(err)
		}
		s.NetworkMode = ps.NetworkMode
		s.DependsOn = map[string]string{}
		for k, d := range ps.DependsOn {
			s.DependsOn[k] = d.Condition
		}
		s.Command = ps.Command
		if ps.HealthCheck != nil {
			s.Health = ps.HealthCheck.Test
		}
		return s
	}
	for _, name := range []string{"bootstrap", "esgate", "logstash"} {
		if m := svc(name).NetworkMode; m != "service:es" {
			t.Errorf("%s network_mode %q: esgate's loopback listener is reachable only inside one namespace", name, m)
		}
	}
	if c := svc("esgate").DependsOn["bootstrap"]; c != "service_completed_successfully" {
		t.Errorf("esgate starts on %q of bootstrap", c)
	}
	if c := svc("logstash").DependsOn["esgate"]; c != "service_healthy" {
		t.Errorf("logstash starts on %q of esgate", c)
	}
	if h := strings.Join(svc("esgate").Health, " "); !strings.Contains(h, "esgate probe") {
		t.Errorf("esgate's healthcheck %q does not use esgate probe", h)
	}
	if cmd := strings.Join(svc("esgate").Command, " "); cmd != "serve --config /shared/esgate.secrets" {
		t.Errorf("esgate command %q", cmd)
	}
}
