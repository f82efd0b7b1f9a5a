package bootstrap

import (
	"testing"
)

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
