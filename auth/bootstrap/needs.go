package bootstrap

import (
	"fmt"
	"slices"
	"strings"
)

// Output describes the Logstash elasticsearch outputs a credential serves:
// which of the output's modes are in use. What each mode sends, call by
// call, is in the plugin's source (logstash-output-elasticsearch and Logstash x-pack sources); the
// privileges below are exactly what those calls need, and this is the one
// table that bootstrap's roles and keys, its verification and the
// privilege doctor (esgate check --privileges) all use.
type Output struct {
	// DataStream: Logstash 8's default output (only hosts set, ECS on)
	// writes the data stream logs-generic-default with create actions;
	// with data_stream_* settings, other logs-*-* data streams.
	DataStream bool
	// Index: index => "logstash-%{+YYYY.MM.dd}" and the like: index
	// actions on IndexPattern, and the index template checked and
	// installed at start.
	Index bool
	// ILM: ilm_enabled => true: the template, the rollover alias
	// (ecs-logstash, or logstash without ECS) with its first index, and
	// the ILM policy logstash-policy.
	ILM bool
	// IndexPattern is what Index mode writes (default logstash-*).
	IndexPattern string
	// ECSDisabled: ecs_compatibility => disabled; the ILM alias is then
	// "logstash" rather than "ecs-logstash".
	ECSDisabled bool
}

// Modes of Output, as --logstash-output takes them.
const (
	ModeDataStream = "data_stream"
	ModeIndex      = "index"
	ModeILM        = "ilm"
)

// DefaultModes covers Logstash 8's default output and the Logstash
// security guide's logstash-* indices.
const DefaultModes = ModeDataStream + "," + ModeIndex

// ParseModes reads a comma-separated list of data_stream, index, ilm.
func ParseModes(s string, o *Output) error {
	o.DataStream, o.Index, o.ILM = false, false, false
	for _, m := range strings.Split(s, ",") {
		switch strings.TrimSpace(m) {
		case ModeDataStream:
			o.DataStream = true
		case ModeIndex:
			o.Index = true
		case ModeILM:
			o.ILM = true
		case "":
		default:
			return fmt.Errorf("unknown mode %q: want data_stream, index or ilm (comma-separated)", m)
		}
	}
	if !o.DataStream && !o.Index && !o.ILM {
		return fmt.Errorf("no mode given: want data_stream, index or ilm (comma-separated)")
	}
	return nil
}

// Modes is the inverse of ParseModes.
func (o Output) Modes() string {
	var m []string
	if o.DataStream {
		m = append(m, ModeDataStream)
	}
	if o.Index {
		m = append(m, ModeIndex)
	}
	if o.ILM {
		m = append(m, ModeILM)
	}
	return strings.Join(m, ",")
}

func (o Output) pattern() string {
	if o.IndexPattern == "" {
		return "logstash-*"
	}
	return o.IndexPattern
}

// ilmAlias is the rollover alias Logstash uses with ILM.
func (o Output) ilmAlias() string {
	if o.ECSDisabled {
		return "logstash"
	}
	return "ecs-logstash"
}

// builder merges privileges into a RoleSpec, one indices entry per set of
// names, in the order first given.
type builder struct{ r RoleSpec }

func (b *builder) cluster(privs ...string) {
	for _, p := range privs {
		if !slices.Contains(b.r.Cluster, p) {
			b.r.Cluster = append(b.r.Cluster, p)
		}
	}
}

func (b *builder) indices(names []string, privs ...string) {
	for i := range b.r.Indices {
		if slices.Equal(b.r.Indices[i].Names, names) {
			for _, p := range privs {
				if !slices.Contains(b.r.Indices[i].Privileges, p) {
					b.r.Indices[i].Privileges = append(b.r.Indices[i].Privileges, p)
				}
			}
			return
		}
	}
	b.r.Indices = append(b.r.Indices, IndexPriv{Names: names, Privileges: append([]string(nil), privs...)})
}

// PublishNeeds is what the output's own calls need:
//
//	every mode  GET /, HEAD /, GET /_license     cluster monitor
//	data_stream create to logs-*-* (auto-created) indices logs-*-*: create_doc, auto_configure
//	index       HEAD/PUT _index_template/…       cluster manage_index_templates
//	            index to <pattern>, new indices  indices <pattern>: index, create_index
//	ilm         template as index; GET/PUT _ilm/policy/logstash-policy: cluster manage_ilm;
//	            HEAD <alias>, PUT <alias-{now/d}-000001>, index to <alias>:
//	            indices <alias>, <alias>-*: index, create_index, view_index_metadata, manage
func (o Output) PublishNeeds() RoleSpec {
	var b builder
	b.cluster("monitor")
	if o.Index || o.ILM {
		b.cluster("manage_index_templates")
	}
	if o.ILM {
		b.cluster("manage_ilm")
	}
	if o.DataStream {
		b.indices([]string{"logs-*-*"}, "create_doc", "auto_configure")
	}
	if o.Index {
		b.indices([]string{o.pattern()}, "index", "create_index")
	}
	if o.ILM {
		a := o.ilmAlias()
		b.indices([]string{a, a + "-*"}, "index", "create_index", "view_index_metadata", "manage")
	}
	return b.r
}

// ReadNeeds is what the elasticsearch input and filter plugins need to
// read what the output wrote, and any client's first GET /.
func (o Output) ReadNeeds() RoleSpec {
	var b builder
	b.cluster("monitor")
	var names []string
	if o.DataStream {
		names = append(names, "logs-*-*")
	}
	if o.Index {
		names = append(names, o.pattern())
	}
	if o.ILM {
		names = append(names, o.ilmAlias(), o.ilmAlias()+"-*")
	}
	b.indices(names, "read", "view_index_metadata")
	return b.r
}

// MonitoringNeeds is what Logstash's monitoring needs: what the built-in
// logstash_system role holds (monitor and the _monitoring/bulk action) for
// xpack.monitoring, and create on .monitoring-ls-* for monitoring.enabled
// (direct shipping through an elasticsearch output).
func MonitoringNeeds() RoleSpec {
	return RoleSpec{Cluster: []string{"monitor", "cluster:admin/xpack/monitoring/bulk"},
		Indices: []IndexPriv{{Names: []string{".monitoring-ls-*"}, Privileges: []string{"create_index", "create"}}}}
}

// ManagementNeeds is what central pipeline management needs: GET / and
// GET /_logstash/pipeline.
func ManagementNeeds() RoleSpec {
	return RoleSpec{Cluster: []string{"monitor", "manage_logstash_pipelines"}}
}

// Union merges specs into one (for a credential that serves several uses).
func Union(specs ...RoleSpec) RoleSpec {
	var b builder
	for _, s := range specs {
		b.cluster(s.Cluster...)
		for _, ip := range s.Indices {
			b.indices(ip.Names, ip.Privileges...)
		}
	}
	return b.r
}
