package bootstrap

import (
	"context"
	"encoding/base64"
	"fmt"
	"sort"
	"strings"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/elastic/go-elasticsearch/v8/typedapi/security/hasprivileges"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types"
)

// Check is the verification of one credential.
type Check struct {
	Credential string    `json:"credential"` // user:NAME or api_key:PURPOSE
	Principal  string    `json:"principal,omitempty"`
	Missing    []Missing `json:"missing,omitempty"`
	Error      string    `json:"error,omitempty"`
}

// Missing is a privilege a credential lacks and what it blocks.
type Missing struct {
	Privilege string `json:"privilege"`
	On        string `json:"on,omitempty"` // index pattern; empty for cluster
	Blocks    string `json:"blocks"`
	Fix       string `json:"fix,omitempty"`
}

// verify authenticates with every credential on record that this run is
// about and checks that it holds what its role in the guide needs.
func (r *Runner) verify(ctx context.Context) ([]Check, error) {
	var checks []Check
	if r.Opts.wants("users") {
		users := map[string]RoleSpec{
			"logstash_internal": r.Opts.WriterRoleSpec(),
			"logstash_user":     r.Opts.ReaderRoleSpec(),
			"logstash_system":   {Cluster: []string{"monitor"}},
			// Central management: the built-in logstash_admin role and the
			// writer role.
			"logstash_admin_user": Union(ManagementNeeds(), r.Opts.WriterRoleSpec()),
		}
		names := make([]string, 0, len(users))
		for n := range users {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			pw, ok := r.Secrets.Passwords[n]
			if !ok {
				continue
			}
			hdr := "Basic " + base64.StdEncoding.EncodeToString([]byte(n+":"+pw))
			checks = append(checks, r.check(ctx, "user:"+n, hdr, users[n]))
		}
	}
	for _, p := range Purposes {
		ks, ok := r.Secrets.APIKeys[p]
		if !ok || !r.Opts.wants("keys:"+p) {
			continue
		}
		checks = append(checks, r.check(ctx, "api_key:"+p, "ApiKey "+ks.Encoded, r.Opts.KeySpec(p)))
	}
	return checks, nil
}

func (r *Runner) check(ctx context.Context, label, header string, want RoleSpec) Check {
	es, err := r.ClientFor(header)
	if err != nil {
		return Check{Credential: label, Error: err.Error()}
	}
	c := CheckPrivileges(ctx, es, label, want)
	if c.Error != "" && strings.Contains(c.Error, "401") && strings.HasPrefix(label, "user:") {
		c.Error += " (the password on record no longer works: run with --reset-passwords)"
	}
	return c
}

// CheckPrivileges authenticates with es's credential and asks
// _has_privileges for want; each missing privilege is reported with the
// Elasticsearch action it would block and the change that fixes it.
func CheckPrivileges(ctx context.Context, es *elasticsearch.TypedClient, label string, want RoleSpec) Check {
	c := Check{Credential: label}
	who, err := es.Security.Authenticate().Do(ctx)
	if err != nil {
		c.Error = explain("authenticating", err).Error()
		return c
	}
	c.Principal = fmt.Sprintf("user %q realm %s", who.Username, who.AuthenticationRealm.Name)
	target := "the user's roles"
	if who.ApiKey != nil {
		c.Principal = fmt.Sprintf("API key id %q of user %q", who.ApiKey.Id, who.Username)
		target = "the API key's role descriptors (and its owner's roles)"
	}
	req := &hasprivileges.Request{Cluster: clusterPrivs(want.Cluster)}
	for _, ip := range want.Indices {
		chk := types.IndexPrivilegesCheck{Names: ip.Names}
		chk.Privileges = indexPrivs([]IndexPriv{ip})[0].Privileges
		req.Index = append(req.Index, chk)
	}
	res, err := es.Security.HasPrivileges().Request(req).Do(ctx)
	if err != nil {
		c.Error = explain("checking privileges", err).Error()
		return c
	}
	for _, p := range want.Cluster {
		if !res.Cluster[p] {
			c.Missing = append(c.Missing, Missing{Privilege: p, Blocks: blocks("cluster", p),
				Fix: fmt.Sprintf("add %q to the cluster privileges of %s", p, target)})
		}
	}
	for _, ip := range want.Indices {
		for _, n := range ip.Names {
			for _, p := range ip.Privileges {
				if !res.Index[n][p] {
					c.Missing = append(c.Missing, Missing{Privilege: p, On: n, Blocks: blocks("index", p),
						Fix: fmt.Sprintf("add %q to the index privileges for %s of %s", p, n, target)})
				}
			}
		}
	}
	return c
}
