package bootstrap

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/changepassword"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/createapikey"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/invalidateapikey"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/putrole"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/putuser"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types/enums/clusterprivilege"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types/enums/indexprivilege"
)

// Action is one line of the plan and of the report.
type Action struct {
	Kind   string `json:"kind"` // role, user, api_key
	Name   string `json:"name"`
	Op     string `json:"op"` // create, update, unchanged, rotate, skip
	Detail string `json:"detail,omitempty"`
}

// Report is what a run did (or, with DryRun, would do). It holds no secrets.
type Report struct {
	DryRun       bool     `json:"dry_run"`
	Actions      []Action `json:"actions"`
	Verification []Check  `json:"verification,omitempty"`
	SecretsFile  string   `json:"secrets_file,omitempty"`
	// RealmConfig is the JWT realm's elasticsearch.yml block (with JWT).
	RealmConfig string `json:"realm_config,omitempty"`
}

// Missing reports whether verification found missing privileges.
func (r *Report) Missing() bool {
	for _, c := range r.Verification {
		if len(c.Missing) > 0 || c.Error != "" {
			return true
		}
	}
	return false
}

// Runner provisions with an admin client and verifies with per-credential
// clients made by ClientFor.
type Runner struct {
	ES        *elasticsearch.TypedClient
	ClientFor func(header string) (*elasticsearch.TypedClient, error)
	Opts      Options
	// Secrets is the record from a previous run (may be empty), updated in place.
	Secrets *Secrets
	// Save persists Secrets; it is called after every mint, before old keys
	// are invalidated, so that a crash never loses a working credential.
	Save func(*Secrets) error
}

// Run plans, applies (unless DryRun) and verifies.
func (r *Runner) Run(ctx context.Context) (*Report, error) {
	r.Opts.defaults()
	rep := &Report{DryRun: r.Opts.DryRun}
	if err := r.Opts.checkJWT(); err != nil {
		return rep, err
	}
	if r.Opts.JWT != nil {
		rep.RealmConfig = r.Opts.JWT.ElasticsearchYML()
	}
	if r.Secrets.Passwords == nil {
		r.Secrets.Passwords = map[string]string{}
	}
	if r.Secrets.APIKeys == nil {
		r.Secrets.APIKeys = map[string]KeySecret{}
	}
	if r.Opts.wants("roles") {
		for _, rs := range []struct {
			name string
			spec RoleSpec
		}{{r.Opts.WriterRole, r.Opts.WriterRoleSpec()}, {r.Opts.ReaderRole, r.Opts.ReaderRoleSpec()}} {
			a, err := r.role(ctx, rs.name, rs.spec)
			if err != nil {
				return rep, err
			}
			rep.Actions = append(rep.Actions, a)
		}
	}
	if r.Opts.JWT != nil && r.Opts.wants("role_mapping") {
		a, err := r.roleMapping(ctx)
		if err != nil {
			return rep, err
		}
		rep.Actions = append(rep.Actions, a)
	}
	if r.Opts.wants("users") {
		for _, u := range r.Opts.users() {
			a, err := r.user(ctx, u)
			if err != nil {
				return rep, err
			}
			rep.Actions = append(rep.Actions, a)
		}
		a, err := r.systemUser(ctx)
		if err != nil {
			return rep, err
		}
		rep.Actions = append(rep.Actions, a)
	}
	for _, p := range Purposes {
		if !r.Opts.wants("keys:" + p) {
			continue
		}
		a, err := r.apiKey(ctx, p)
		if err != nil {
			return rep, err
		}
		rep.Actions = append(rep.Actions, a)
	}
	if !r.Opts.DryRun {
		checks, err := r.verify(ctx)
		if err != nil {
			return rep, err
		}
		rep.Verification = checks
	}
	return rep, nil
}

// esStatus returns the HTTP status of a typed-API error, or 0.
func esStatus(err error) int {
	var e *types.ElasticsearchError
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

// explain turns a typed-API error into one that says what to fix.
func explain(doing string, err error) error {
	var e *types.ElasticsearchError
	if errors.As(err, &e) {
		reason := ""
		if e.ErrorCause.Reason != nil {
			reason = *e.ErrorCause.Reason
		}
		switch e.Status {
		case 401:
			return fmt.Errorf("%s: 401 Unauthorized: %s: check the admin credentials", doing, reason)
		case 403:
			return fmt.Errorf("%s: 403 Forbidden: %s: bootstrap needs an admin with the manage_security cluster privilege (e.g. the elastic user)", doing, reason)
		}
		return fmt.Errorf("%s: %d %s: %s", doing, e.Status, e.ErrorCause.Type, reason)
	}
	return fmt.Errorf("%s: %w", doing, err)
}

func (r *Runner) role(ctx context.Context, name string, want RoleSpec) (Action, error) {
	a := Action{Kind: "role", Name: name}
	res, err := r.ES.Security.GetRole().Name(name).Do(ctx)
	md := types.Metadata{}
	switch {
	case esStatus(err) == 404:
		a.Op, a.Detail = "create", want.String()
	case err != nil:
		return a, explain(fmt.Sprintf("getting role %q", name), err)
	default:
		cur := RoleSpec{}
		if role, ok := res[name]; ok {
			for k, v := range role.Metadata {
				md[k] = v // kept across updates (the logstash_system marker)
			}
			for _, c := range role.Cluster {
				cur.Cluster = append(cur.Cluster, c.Name)
			}
			for _, ip := range role.Indices {
				e := IndexPriv{Names: ip.Names}
				for _, p := range ip.Privileges {
					e.Privileges = append(e.Privileges, p.Name)
				}
				cur.Indices = append(cur.Indices, e)
			}
		}
		if d := diffRole(want, cur); d != "" {
			a.Op, a.Detail = "update", d
		} else {
			a.Op = "unchanged"
			return a, nil
		}
	}
	if r.Opts.DryRun {
		return a, nil
	}
	md["managed_by"] = []byte(`"esgate"`)
	req := &putrole.Request{Cluster: clusterPrivs(want.Cluster), Indices: indexPrivs(want.Indices), Metadata: md}
	if _, err := r.ES.Security.PutRole(name).Request(req).Do(ctx); err != nil {
		return a, explain(fmt.Sprintf("putting role %q", name), err)
	}
	return a, nil
}

func clusterPrivs(names []string) []clusterprivilege.ClusterPrivilege {
	out := make([]clusterprivilege.ClusterPrivilege, 0, len(names))
	for _, n := range names {
		out = append(out, clusterprivilege.ClusterPrivilege{Name: n})
	}
	return out
}

func indexPrivs(ips []IndexPriv) []types.IndicesPrivileges {
	out := make([]types.IndicesPrivileges, 0, len(ips))
	for _, ip := range ips {
		e := types.IndicesPrivileges{Names: ip.Names}
		for _, p := range ip.Privileges {
			e.Privileges = append(e.Privileges, indexprivilege.IndexPrivilege{Name: p})
		}
		out = append(out, e)
	}
	return out
}

// newPassword returns 32 characters from a CSPRNG (192 bits).
func newPassword() string {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (r *Runner) user(ctx context.Context, u userSpec) (Action, error) {
	a := Action{Kind: "user", Name: u.name}
	res, err := r.ES.Security.GetUser().Username(u.name).Do(ctx)
	setPassword := false
	switch {
	case esStatus(err) == 404:
		a.Op, a.Detail, setPassword = "create", fmt.Sprintf("roles [%s], password generated", join(u.roles)), true
	case err != nil:
		return a, explain(fmt.Sprintf("getting user %q", u.name), err)
	default:
		cur := res[u.name]
		add, del := setDiff(u.roles, cur.Roles)
		var details []string
		if len(add)+len(del) > 0 {
			details = append(details, "roles"+fmtDiff(add, del))
		}
		if !cur.Enabled {
			details = append(details, "enable")
		}
		if r.Opts.ResetPasswords {
			details, setPassword = append(details, "new password"), true
		}
		if len(details) == 0 {
			a.Op = "unchanged"
			return a, nil
		}
		a.Op, a.Detail = "update", join(details)
	}
	if r.Opts.DryRun {
		return a, nil
	}
	enabled := true
	req := &putuser.Request{Roles: u.roles, FullName: &u.fullName, Enabled: &enabled,
		Metadata: types.Metadata{"managed_by": []byte(`"esgate"`)}}
	var pw string
	if setPassword {
		pw = newPassword()
		req.Password = &pw
	}
	if _, err := r.ES.Security.PutUser(u.name).Request(req).Do(ctx); err != nil {
		return a, explain(fmt.Sprintf("putting user %q", u.name), err)
	}
	if setPassword {
		r.Secrets.Passwords[u.name] = pw
		if err := r.Save(r.Secrets); err != nil {
			return a, err
		}
	}
	return a, nil
}

// systemUser enables the built-in logstash_system user and sets its
// password when esgate has none on record (or when asked to reset).
func (r *Runner) systemUser(ctx context.Context) (Action, error) {
	const name = "logstash_system"
	a := Action{Kind: "user", Name: name}
	res, err := r.ES.Security.GetUser().Username(name).Do(ctx)
	if err != nil {
		return a, explain("getting user logstash_system", err)
	}
	cur := res[name]
	_, known := r.Secrets.Passwords[name]
	// A password esgate set before (for another secrets file) is kept:
	// resetting it would break monitoring where that file is used.
	marked, err := r.systemPasswordMarked(ctx)
	if err != nil {
		return a, err
	}
	setPw := r.Opts.ResetPasswords || (!known && !marked)
	var details []string
	if setPw {
		details = append(details, "password set")
	} else if !known {
		a.Detail = "password kept: an earlier bootstrap set it and its secrets file holds it (use the monitoring API key here, or --reset-passwords)"
	}
	if !cur.Enabled {
		details = append(details, "enable")
	}
	if len(details) == 0 {
		a.Op = "unchanged"
		return a, nil
	}
	a.Op, a.Detail = "update", join(details)
	if r.Opts.DryRun {
		return a, nil
	}
	if setPw {
		pw := newPassword()
		if _, err := r.ES.Security.ChangePassword().Username(name).Request(&changepassword.Request{Password: &pw}).Do(ctx); err != nil {
			return a, explain("setting the logstash_system password", err)
		}
		r.Secrets.Passwords[name] = pw
		if err := r.Save(r.Secrets); err != nil {
			return a, err
		}
		if err := r.markSystemPassword(ctx); err != nil {
			return a, err
		}
	}
	if !cur.Enabled {
		if _, err := r.ES.Security.EnableUser(name).Do(ctx); err != nil {
			return a, explain("enabling logstash_system", err)
		}
	}
	return a, nil
}

// systemPasswordMarker is the writer role's metadata key that records
// that esgate set logstash_system's password (built-in users carry no
// metadata of their own).
const systemPasswordMarker = "esgate_logstash_system_password_set"

func (r *Runner) systemPasswordMarked(ctx context.Context) (bool, error) {
	res, err := r.ES.Security.GetRole().Name(r.Opts.WriterRole).Do(ctx)
	switch {
	case esStatus(err) == 404:
		return false, nil
	case err != nil:
		return false, explain(fmt.Sprintf("getting role %q", r.Opts.WriterRole), err)
	}
	_, ok := res[r.Opts.WriterRole].Metadata[systemPasswordMarker]
	return ok, nil
}

// markSystemPassword records on the writer role that logstash_system's
// password was set, keeping the role as it is.
func (r *Runner) markSystemPassword(ctx context.Context) error {
	res, err := r.ES.Security.GetRole().Name(r.Opts.WriterRole).Do(ctx)
	if err != nil {
		return explain(fmt.Sprintf("getting role %q", r.Opts.WriterRole), err)
	}
	role := res[r.Opts.WriterRole]
	md := types.Metadata{}
	for k, v := range role.Metadata {
		md[k] = v
	}
	md[systemPasswordMarker] = []byte(fmt.Sprintf("%q", time.Now().UTC().Format(time.RFC3339)))
	req := &putrole.Request{Cluster: role.Cluster, Indices: role.Indices, Metadata: md}
	if _, err := r.ES.Security.PutRole(r.Opts.WriterRole).Request(req).Do(ctx); err != nil {
		return explain(fmt.Sprintf("marking role %q", r.Opts.WriterRole), err)
	}
	return nil
}

func (r *Runner) apiKey(ctx context.Context, purpose string) (Action, error) {
	name := r.Opts.KeyName(purpose)
	a := Action{Kind: "api_key", Name: name}
	res, err := r.ES.Security.GetApiKey().Name(name).ActiveOnly(true).Do(ctx)
	var active []string
	switch {
	case esStatus(err) == 404:
	case err != nil:
		return a, explain(fmt.Sprintf("getting API key %q", name), err)
	default:
		for _, k := range res.ApiKeys {
			if !k.Invalidated {
				active = append(active, k.Id)
			}
		}
	}
	rec, recorded := r.Secrets.APIKeys[purpose]
	switch {
	case len(active) == 0:
		a.Op, a.Detail = "create", r.Opts.KeySpec(purpose).String()
	case r.Opts.Rotate:
		a.Op, a.Detail = "rotate", fmt.Sprintf("new key, then invalidate %s", join(active))
	case !recorded || !contains(active, rec.ID):
		// The active key's secret lives in another secrets file (another
		// host, or a file that was lost): this file gets a key of its own,
		// and the other stays valid for whoever holds it.
		a.Op, a.Detail = "create", "the active key's secret is not in this secrets file: a new key for it ("+r.Opts.KeySpec(purpose).String()+"); the other stays valid"
		active = nil
	default:
		a.Op = "unchanged"
		return a, nil
	}
	if r.Opts.DryRun {
		return a, nil
	}
	spec := r.Opts.KeySpec(purpose)
	req := &createapikey.Request{Name: &name,
		RoleDescriptors: map[string]types.RoleDescriptor{DescriptorName(purpose): {Cluster: clusterPrivs(spec.Cluster), Indices: indexPrivs(spec.Indices)}},
		Metadata:        types.Metadata{"managed_by": []byte(`"esgate"`), "purpose": []byte(`"` + purpose + `"`), "host": []byte(fmt.Sprintf("%q", r.Opts.Hostname))},
	}
	if r.Opts.Expiration != "" {
		req.Expiration = r.Opts.Expiration
	}
	created, err := r.ES.Security.CreateApiKey().Request(req).Do(ctx)
	if err != nil {
		return a, explain(fmt.Sprintf("creating API key %q", name), err)
	}
	ks := KeySecret{ID: created.Id, Name: created.Name, Encoded: created.Encoded}
	if created.Expiration != nil {
		ks.Expiration = *created.Expiration
	}
	r.Secrets.APIKeys[purpose] = ks
	if err := r.Save(r.Secrets); err != nil {
		return a, err
	}
	if len(active) > 0 {
		if _, err := r.ES.Security.InvalidateApiKey().Request(&invalidateapikey.Request{Ids: active}).Do(ctx); err != nil {
			return a, explain(fmt.Sprintf("invalidating the old API key(s) %s", join(active)), err)
		}
	}
	return a, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
