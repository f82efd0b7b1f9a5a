package bootstrap

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Options say what to provision. Zero values take the documented defaults.
type Options struct {
	// Output is what the Logstash outputs do: the writer role and the
	// publish key get exactly what it needs (see Output.PublishNeeds).
	Output Output
	// WriterRole and ReaderRole name the roles (default logstash_writer,
	// logstash_reader).
	WriterRole, ReaderRole string
	// Only limits what is provisioned: "roles", "users", "keys" or
	// "keys:<purpose>" (publish, read, monitoring, management). Empty: all.
	Only []string
	// Hostname names the API keys: esgate-<purpose>-<hostname>.
	Hostname string
	// Expiration of new API keys, in ES time units ("30d"); empty: never.
	Expiration string
	// Rotate replaces existing API keys: mint, record, then invalidate the old.
	Rotate bool
	// ResetPasswords sets new passwords on users that already exist.
	ResetPasswords bool
	// DryRun only reads: it reports the plan and writes nothing.
	DryRun bool
	// JWT, when set, maps a JWT realm's principal to a role (the piece
	// "role_mapping") and reports the realm's elasticsearch.yml block.
	// With JWT and no Only, only roles and the mapping are provisioned: the
	// workload's token is its credential, so no password or key is minted.
	JWT *JWT
}

func (o *Options) defaults() {
	if o.Output.IndexPattern == "" {
		o.Output.IndexPattern = "logstash-*"
	}
	if !o.Output.DataStream && !o.Output.Index && !o.Output.ILM {
		ParseModes("", &o.Output) // the guide's default
	}
	if o.WriterRole == "" {
		o.WriterRole = "logstash_writer"
	}
	if o.ReaderRole == "" {
		o.ReaderRole = "logstash_reader"
	}
	if o.Hostname == "" {
		o.Hostname = "localhost"
	}
	if o.JWT != nil {
		o.JWT.defaults(o.WriterRole)
		if len(o.Only) == 0 {
			o.Only = []string{"roles", "role_mapping"}
		}
	}
}

// Purposes of the API keys, in the order they are created.
var Purposes = []string{"publish", "read", "monitoring", "management"}

// wants reports whether a piece is selected by Only.
func (o *Options) wants(piece string) bool {
	if len(o.Only) == 0 {
		return true
	}
	kind, _, _ := strings.Cut(piece, ":")
	for _, w := range o.Only {
		if w == piece || w == kind {
			return true
		}
	}
	return false
}

// ValidateOnly checks the --only values.
func ValidateOnly(only []string) error {
	for _, w := range only {
		switch w {
		case "roles", "users", "keys", "keys:publish", "keys:read", "keys:monitoring", "keys:management", "role_mapping":
		default:
			return fmt.Errorf("unknown piece %q: want roles, users, keys, keys:<publish|read|monitoring|management> or role_mapping (with --jwt-realm)", w)
		}
	}
	return nil
}

// IndexPriv is one index privileges entry of a role descriptor.
type IndexPriv struct {
	Names      []string `json:"names"`
	Privileges []string `json:"privileges"`
}

// RoleSpec is a role descriptor in the guide's terms.
type RoleSpec struct {
	Cluster []string    `json:"cluster"`
	Indices []IndexPriv `json:"indices"`
}

// WriterRoleSpec is logstash_writer, the role of the logstash_internal
// user: what the outputs need (Output.PublishNeeds). By default that holds
// the guide's role and more: the guide's role alone (write, create,
// create_index on logstash-*) refuses Logstash 8's and 9's default output,
// which writes the data stream logs-generic-default.
func (o *Options) WriterRoleSpec() RoleSpec { return o.Output.PublishNeeds() }

// ReaderRoleSpec is logstash_reader: reading what the outputs write, and
// central pipeline management, as the guide's reader does.
func (o *Options) ReaderRoleSpec() RoleSpec {
	return Union(o.Output.ReadNeeds(), ManagementNeeds())
}

// KeySpec returns the role descriptor of an API key purpose: exactly what
// that use needs (see needs.go).
func (o *Options) KeySpec(purpose string) RoleSpec {
	switch purpose {
	case "publish":
		return o.Output.PublishNeeds()
	case "read":
		return o.Output.ReadNeeds()
	case "monitoring":
		return MonitoringNeeds()
	case "management":
		return ManagementNeeds()
	}
	panic("unknown purpose " + purpose)
}

// DescriptorName is the role descriptor name inside each key, as the
// guide names them (publish: logstash_writer, monitoring:
// logstash_monitoring).
func DescriptorName(purpose string) string {
	return map[string]string{"publish": "logstash_writer", "read": "logstash_reader",
		"monitoring": "logstash_monitoring", "management": "logstash_management"}[purpose]
}

// KeyName is the API key name for a purpose on this host.
func (o *Options) KeyName(purpose string) string {
	return "esgate-" + purpose + "-" + o.Hostname
}

// userSpec is a native user the guide creates.
type userSpec struct {
	name, fullName string
	roles          []string
}

func (o *Options) users() []userSpec {
	return []userSpec{
		{"logstash_internal", "Internal Logstash User", []string{o.WriterRole}},
		{"logstash_user", "Kibana User for Logstash", []string{o.ReaderRole, "logstash_system"}},
		// The guide's central management user: the built-in
		// logstash_admin role and the writer role.
		{"logstash_admin_user", "Logstash Central Management", []string{"logstash_admin", o.WriterRole}},
	}
}

// diffRole describes how current differs from want ("" when equal).
// Order does not matter; privileges are compared per index names set.
func diffRole(want, cur RoleSpec) string {
	var parts []string
	if add, del := setDiff(want.Cluster, cur.Cluster); len(add)+len(del) > 0 {
		parts = append(parts, "cluster"+fmtDiff(add, del))
	}
	curIdx := map[string][]string{}
	for _, ip := range cur.Indices {
		k := strings.Join(sorted(ip.Names), ",")
		curIdx[k] = append(curIdx[k], ip.Privileges...)
	}
	seen := map[string]bool{}
	for _, ip := range want.Indices {
		k := strings.Join(sorted(ip.Names), ",")
		seen[k] = true
		if add, del := setDiff(ip.Privileges, curIdx[k]); len(add)+len(del) > 0 {
			parts = append(parts, "indices "+k+fmtDiff(add, del))
		}
	}
	for k, privs := range curIdx {
		if !seen[k] {
			parts = append(parts, "indices "+k+fmtDiff(nil, privs))
		}
	}
	sort.Strings(parts)
	return strings.Join(parts, "; ")
}

func sorted(s []string) []string {
	out := append([]string{}, s...)
	sort.Strings(out)
	return out
}

func setDiff(want, cur []string) (add, del []string) {
	for _, w := range want {
		if !slices.Contains(cur, w) {
			add = append(add, w)
		}
	}
	for _, c := range cur {
		if !slices.Contains(want, c) {
			del = append(del, c)
		}
	}
	return add, del
}

func fmtDiff(add, del []string) string {
	var b strings.Builder
	for _, a := range add {
		b.WriteString(" +" + a)
	}
	for _, d := range del {
		b.WriteString(" -" + d)
	}
	return b.String()
}

func (r RoleSpec) String() string {
	var b strings.Builder
	if len(r.Cluster) > 0 {
		fmt.Fprintf(&b, "cluster [%s]", strings.Join(r.Cluster, ","))
	}
	for _, ip := range r.Indices {
		if b.Len() > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "indices %s [%s]", strings.Join(ip.Names, ","), strings.Join(ip.Privileges, ","))
	}
	return b.String()
}

// blocks names the Elasticsearch action a missing privilege would block.
func blocks(kind, priv string) string {
	m := map[string]string{
		"index:create_doc":                            "indices:data/write/bulk[s] (create): Logstash cannot write events",
		"index:create":                                "indices:data/write/bulk[s] (create): documents cannot be written",
		"index:index":                                 "indices:data/write/bulk[s] (index): Logstash's default index action fails",
		"index:write":                                 "indices:data/write/bulk[s]: Logstash cannot write events",
		"index:auto_configure":                        "indices:admin/auto_create: the first event for a new index or data stream fails",
		"index:create_index":                          "indices:admin/create and indices:admin/auto_create: new indices cannot be created",
		"index:view_index_metadata":                   "indices:admin/get: Logstash cannot check its indices and aliases",
		"index:manage":                                "indices:admin/*: ILM rollover aliases cannot be managed",
		"index:manage_ilm":                            "indices:admin/ilm/*: ILM policies cannot be applied to indices",
		"index:read":                                  "indices:data/read/*: searches fail",
		"cluster:monitor":                             "cluster:monitor/main: Logstash's startup check (GET /) fails",
		"cluster:manage_index_templates":              "indices:admin/index_template/put: templates cannot be installed",
		"cluster:manage_ilm":                          "cluster:admin/ilm/put: the ILM policy cannot be installed",
		"cluster:read_ilm":                            "cluster:admin/ilm/get: the ILM policy cannot be read",
		"cluster:manage_logstash_pipelines":           "cluster:admin/logstash/pipeline/*: central management cannot read pipelines",
		"cluster:cluster:admin/xpack/monitoring/bulk": "POST /_monitoring/bulk: Logstash's monitoring data is refused",
	}
	if s, ok := m[kind+":"+priv]; ok {
		return s
	}
	return "actions granted by " + priv
}

// Features are the Logstash features whose privileges the doctor checks.
type Features struct {
	Output     Output // what the outputs do
	Monitoring bool   // the route carries Logstash monitoring
	Management bool   // the route carries central pipeline management
}

// Extra is what Monitoring and Management add to a credential's needs.
func (f Features) Extra() RoleSpec {
	var specs []RoleSpec
	if f.Monitoring {
		specs = append(specs, MonitoringNeeds())
	}
	if f.Management {
		specs = append(specs, ManagementNeeds())
	}
	return Union(specs...)
}

// Needs returns the privileges the features need: the same table that
// bootstrap grants from (needs.go).
func (f Features) Needs() RoleSpec {
	specs := []RoleSpec{f.Output.PublishNeeds()}
	if f.Monitoring {
		specs = append(specs, MonitoringNeeds())
	}
	if f.Management {
		specs = append(specs, ManagementNeeds())
	}
	return Union(specs...)
}
