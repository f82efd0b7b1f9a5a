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
	// Guide: no mode was chosen. The credential then holds the Logstash
	// security guide's privileges and what every output a pipeline gets
	// without choosing needs: data streams; the default index with and
	// without ECS (ecs-logstash-*, logstash-*); ILM with either alias.
	Guide bool
}

// Modes of Output, as --logstash-output takes them.
const (
	ModeDataStream = "data_stream"
	ModeIndex      = "index"
	ModeILM        = "ilm"
)

// AllModes lists every mode, in the order reports show them.
var AllModes = []string{ModeDataStream, ModeIndex, ModeILM}

// ParseModes reads a comma-separated list of data_stream, index, ilm. The
// empty string is the default: every mode, with the guide's privileges
// (Output.Guide).
func ParseModes(s string, o *Output) error {
	o.DataStream, o.Index, o.ILM, o.Guide = false, false, false, false
	if strings.TrimSpace(s) == "" {
		o.DataStream, o.Index, o.ILM, o.Guide = true, true, true, true
		return nil
	}
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

// Modes is the inverse of ParseModes ("" for the guide's default).
func (o Output) Modes() string {
	if o.Guide {
		return ""
	}
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
//
// The guide's default (Output.Guide) is the union of every mode for both
// ECS settings and the guide's own logstash_writer role and publishing
// key: cluster manage_index_templates, monitor, manage_ilm, read_ilm;
// logstash-*: write, create, create_index, manage, manage_ilm,
// view_index_metadata, create_doc.
func (o Output) PublishNeeds() RoleSpec {
	if o.Guide {
		return Union(append(o.variants(Output.PublishNeeds), GuideWriter())...)
	}
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

// GuideWriter is the union of the Logstash security guide's
// logstash_writer role (with its ILM additions) and its publishing API
// key (shared/docs/logstash-secure-connection.md).
func GuideWriter() RoleSpec {
	return RoleSpec{Cluster: []string{"manage_index_templates", "monitor", "manage_ilm", "read_ilm"},
		Indices: []IndexPriv{{Names: []string{"logstash-*"}, Privileges: []string{"write", "create", "create_index", "manage", "manage_ilm", "view_index_metadata", "create_doc"}}}}
}

// variants returns f of every concrete output the guide's default covers:
// data streams, the default index without and with ECS (logstash-*,
// ecs-logstash-*), and ILM with either alias.
func (o Output) variants(f func(Output) RoleSpec) []RoleSpec {
	var out []RoleSpec
	for _, v := range o.Concrete() {
		out = append(out, f(v.Output))
	}
	return out
}

// ModeOutput is one mode of an Output, as a concrete Output of its own.
type ModeOutput struct {
	Mode   string // data_stream, index or ilm
	Output Output
}

// Concrete splits o into one Output per mode it covers; the guide's
// default covers each mode for both ECS settings.
func (o Output) Concrete() []ModeOutput {
	var out []ModeOutput
	if o.DataStream {
		out = append(out, ModeOutput{ModeDataStream, Output{DataStream: true}})
	}
	if o.Index {
		out = append(out, ModeOutput{ModeIndex, Output{Index: true, IndexPattern: o.pattern()}})
		if o.Guide {
			out = append(out, ModeOutput{ModeIndex, Output{Index: true, IndexPattern: "ecs-logstash-*"}})
		}
	}
	if o.ILM {
		if o.Guide {
			out = append(out, ModeOutput{ModeILM, Output{ILM: true}}, ModeOutput{ModeILM, Output{ILM: true, ECSDisabled: true}})
		} else {
			out = append(out, ModeOutput{ModeILM, Output{ILM: true, ECSDisabled: o.ECSDisabled}})
		}
	}
	return out
}

// ReadNeeds is what the elasticsearch input and filter plugins need to
// read what the output wrote, and any client's first GET /.
func (o Output) ReadNeeds() RoleSpec {
	if o.Guide {
		var names []string
		for _, v := range o.Concrete() {
			for _, ip := range v.Output.ReadNeeds().Indices {
				for _, n := range ip.Names {
					if !slices.Contains(names, n) {
						names = append(names, n)
					}
				}
			}
		}
		return RoleSpec{Cluster: []string{"monitor"}, Indices: []IndexPriv{{Names: names, Privileges: []string{"read", "view_index_metadata"}}}}
	}
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
