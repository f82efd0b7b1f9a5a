package bootstrap

import (
	"slices"
	"strings"
	"testing"
)

func TestPlanDefaults(t *testing.T) {
	o := Options{}
	o.defaults()
	// The default is the guide's writer role and publishing key, plus
	// every output a pipeline gets without choosing: the data stream
	// logs-generic-default (Logstash 8 and 9), the default index with and
	// without ECS, and ILM with either alias.
	if g, e := o.WriterRoleSpec().String(), "cluster [monitor,manage_index_templates,manage_ilm,read_ilm] "+
		"indices logs-*-* [create_doc,auto_configure] "+
		"indices logstash-* [index,create_index,write,create,manage,manage_ilm,view_index_metadata,create_doc] "+
		"indices ecs-logstash-* [index,create_index] "+
		"indices ecs-logstash,ecs-logstash-* [index,create_index,view_index_metadata,manage] "+
		"indices logstash,logstash-* [index,create_index,view_index_metadata,manage]"; g != e {
		t.Errorf("writer %q; want %q", g, e)
	}
	if lacks := lacking(o.WriterRoleSpec(), GuideWriter()); len(lacks) > 0 {
		t.Errorf("the default writer lacks the guide's privileges: %v", lacks)
	}
	if g, e := o.KeySpec("read").String(), "cluster [monitor] indices logs-*-*,logstash-*,ecs-logstash-*,ecs-logstash,logstash [read,view_index_metadata]"; g != e {
		t.Errorf("read key %q; want %q", g, e)
	}
	if err := ParseModes("", &o.Output); err != nil || !o.Output.Guide || o.Output.Modes() != "" {
		t.Errorf("the empty modes are the guide's default: %+v %v", o.Output, err)
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
	for _, bad := range []string{",", "streams", "index,nope"} {
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

// lacking lists what of want have does not hold, entry by entry (an
// index privilege counts when an entry for the same names holds it).
func lacking(have, want RoleSpec) []string {
	var out []string
	for _, c := range want.Cluster {
		if !slices.Contains(have.Cluster, c) {
			out = append(out, "cluster "+c)
		}
	}
	for _, w := range want.Indices {
		for _, p := range w.Privileges {
			found := false
			for _, h := range have.Indices {
				found = found || slices.Equal(h.Names, w.Names) && slices.Contains(h.Privileges, p)
			}
			if !found {
				out = append(out, strings.Join(w.Names, ",")+" "+p)
			}
		}
	}
	return out
}
