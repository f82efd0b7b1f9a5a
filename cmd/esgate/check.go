package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"strings"
	"time"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/bootstrap"
	"github.com/esgate/esgate/auth/esclient"
	"github.com/esgate/esgate/auth/policy"
	"github.com/esgate/esgate/auth/token"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/proxy"
	"github.com/esgate/esgate/proxy/esproto"
	"github.com/esgate/esgate/proxy/route"
)

// checkFlags are check's own flags.
type checkFlags struct {
	privileges bool
	features   bootstrap.Features
	output     string
	modes      string
}

func (cf *checkFlags) flags(fs *flag.FlagSet) {
	fs.BoolVar(&cf.privileges, "privileges", false, "also check each route's privileges for the Logstash features in use (the privilege doctor)")
	fs.StringVar(&cf.features.Output.IndexPattern, "index-pattern", "logstash-*", "with --privileges and --logstash-output index: the indices the output writes")
	fs.StringVar(&cf.modes, "logstash-output", "", "with --privileges: require what these output modes need of publishing routes: data_stream, index, ilm (comma-separated), as for bootstrap (default: report which modes each publishing route covers; fail only if it covers none)")
	fs.BoolVar(&cf.features.Output.ECSDisabled, "ecs-disabled", false, "with --privileges and --logstash-output ilm: ecs_compatibility => disabled")
	fs.BoolVar(&cf.features.Monitoring, "monitoring", false, "with --privileges: every route also carries Logstash monitoring (default false: only routes with policy monitoring)")
	fs.BoolVar(&cf.features.Management, "management", false, "with --privileges: every route also carries central pipeline management (default false: only routes with policy management)")
	fs.StringVar(&cf.output, "output", "text", "text or json (with --privileges)")
}

func checkCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cf := &checkFlags{}
	return withConfigFlags("check", args, stdout, stderr, cf, exitUsage, func(cfg *configs.Config, _ *slog.Logger, _ *reloader) error {
		if err := bootstrap.ParseModes(cf.modes, &cf.features.Output); err != nil {
			return &exitCodeError{code: exitUsage, err: fmt.Errorf("--logstash-output: %w", err)}
		}
		if err := check(ctx, cfg, stdout); err != nil {
			return err
		}
		if cf.privileges {
			return doctor(ctx, cfg, cf, stdout)
		}
		return nil
	})
}

// routePurpose is what a route's credential is for, from its policy:
// the bootstrap key purpose whose needs the doctor holds it to.
func routePurpose(profile string) string {
	switch profile {
	case "read", "monitoring", "management":
		return profile
	}
	return "publish" // ingest, full: the elasticsearch output
}

// routeReport is the doctor's verdict on one route.
type routeReport struct {
	bootstrap.Check
	Purpose string             `json:"purpose"`
	Needs   bootstrap.RoleSpec `json:"needs"`
	// Covered and NotCovered are the output modes a publishing route's
	// credential serves and does not (without --logstash-output).
	Covered    []string `json:"covered_modes,omitempty"`
	NotCovered []string `json:"not_covered_modes,omitempty"`
}

// doctor checks each route's credential for what that route is for: a
// publishing route (policy ingest or full) for the output modes, a read
// route for reading what they write, monitoring and management routes for
// their own needs, each as bootstrap grants them. Without
// --logstash-output a publishing or read route passes when it covers at
// least one mode, and the report names the modes it covers and those it
// does not.
func doctor(ctx context.Context, cfg *configs.Config, cf *checkFlags, out io.Writer) error {
	explicit := cf.modes != ""
	opts := bootstrap.Options{Output: cf.features.Output}
	var reports []routeReport
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		rt, err := buildRoute(rc)
		if err != nil {
			return err
		}
		es, err := esclient.New(rt.OwnTransport())
		if err != nil {
			rt.Close()
			return err
		}
		purpose := routePurpose(rc.PolicyProfile)
		extra := bootstrap.Features{Monitoring: cf.features.Monitoring, Management: cf.features.Management}.Extra()
		rep := routeReport{Purpose: purpose}
		if (purpose == "publish" || purpose == "read") && !explicit {
			// Which of the modes does the credential cover?
			var failed []bootstrap.Check
			for _, m := range bootstrap.AllModes {
				var o bootstrap.Output
				bootstrap.ParseModes(m, &o)
				o.IndexPattern = cf.features.Output.IndexPattern
				o.ECSDisabled = cf.features.Output.ECSDisabled
				mo := bootstrap.Options{Output: o}
				c := bootstrap.CheckPrivileges(ctx, es, rt.Name(), bootstrap.Union(mo.KeySpec(purpose), extra))
				if c.Error != "" {
					rep.Check = c
					break
				}
				if len(c.Missing) == 0 {
					rep.Covered = append(rep.Covered, m)
					rep.Check = c
				} else {
					rep.NotCovered = append(rep.NotCovered, m)
					failed = append(failed, c)
				}
			}
			if rep.Error == "" && len(rep.Covered) == 0 && len(failed) > 0 {
				rep.Check = failed[0]
				var o bootstrap.Output
				bootstrap.ParseModes(bootstrap.ModeDataStream, &o)
				rep.Needs = bootstrap.Union((&bootstrap.Options{Output: o}).KeySpec(purpose), extra)
			}
			if rep.Needs.Cluster == nil {
				rep.Needs = bootstrap.Union(opts.KeySpec(purpose), extra)
			}
		} else {
			rep.Needs = bootstrap.Union(opts.KeySpec(purpose), extra)
			rep.Check = bootstrap.CheckPrivileges(ctx, es, rt.Name(), rep.Needs)
		}
		reports = append(reports, rep)
		rt.Close()
	}
	missing := false
	if cf.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(map[string]any{"routes": reports})
	}
	for _, r := range reports {
		if r.Error != "" || len(r.Missing) > 0 && len(r.Covered) == 0 {
			missing = true
		}
		if cf.output == "json" {
			continue
		}
		c := r.Check
		switch {
		case r.Error != "":
			fmt.Fprintf(out, "privileges of route %q (%s):\n  FAILED: %s\n", c.Credential, r.Purpose, r.Error)
		case len(r.Covered) > 0:
			fmt.Fprintf(out, "privileges of route %q (%s):\n  ok for %s (%s)\n", c.Credential, r.Purpose, strings.Join(r.Covered, ", "), c.Principal)
			if len(r.NotCovered) > 0 {
				what := "pipelines writing in those modes are refused"
				if r.Purpose == "read" {
					what = "reading what those modes write is refused"
				}
				fmt.Fprintf(out, "  not covered: %s: %s; bootstrap without --logstash-output (or with --logstash-output %s) grants them\n",
					strings.Join(r.NotCovered, ", "), what, strings.Join(bootstrap.AllModes, ","))
			}
		case len(c.Missing) == 0:
			fmt.Fprintf(out, "privileges of route %q for %s:\n  ok (%s)\n", c.Credential, r.Needs, c.Principal)
		default:
			if len(r.NotCovered) == len(bootstrap.AllModes) {
				fmt.Fprintf(out, "privileges of route %q (%s): covers none of the output modes (%s); what data_stream, the default output, needs:\n",
					c.Credential, r.Purpose, strings.Join(bootstrap.AllModes, ", "))
			}
			fmt.Fprintf(out, "privileges of route %q for %s:\n  MISSING (%s):\n", c.Credential, r.Needs, c.Principal)
			for _, m := range c.Missing {
				on := "cluster"
				if m.On != "" {
					on = "on " + m.On
				}
				fmt.Fprintf(out, "    %s %s: blocks %s\n      fix: %s\n", m.Privilege, on, m.Blocks, m.Fix)
			}
		}
	}
	if missing {
		return &exitCodeError{code: exitMissingPrivileges, err: errors.New("privileges are missing (see above)")}
	}
	return nil
}

// check connects to every host of every route and prints the cluster, the
// presented CA's fingerprint and who the credentials authenticate as. It
// fails, naming the cause and the fix, if any host does not pass.
func check(ctx context.Context, cfg *configs.Config, out io.Writer) error {
	failed := 0
	for i := range cfg.Routes {
		rc := &cfg.Routes[i]
		rt, err := buildRoute(rc)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "route %q (listen %s, auth %s, ssl_verification_mode %s)\n", rc.Name, rc.Listen, rc.AuthKind(), rt.TLS().Mode())
		for _, d := range rc.Deprecations() {
			fmt.Fprintf(out, "  warning: %s\n", d)
		}
		if rt.TLS().Mode() == certs.VerifyNone {
			fmt.Fprintf(out, "  warning: %s\n", route.VerifyNoneWarning)
		}
		if cs := rc.ClientSettings(); len(cs) > 0 {
			fmt.Fprintf(out, "  note: Logstash keeps handling %s; esgate ignores them\n", strings.Join(cs, ", "))
		}
		fmt.Fprintf(out, "  policy (first match wins):\n")
		for _, line := range policy.New(rc.Policy()).Effective() {
			fmt.Fprintf(out, "    %s\n", line)
		}
		if rc.APIKeyManagement {
			fmt.Fprintf(out, "  api_key_management: checking the credential that mints the route's keys\n")
		}
		// The configured credential: with api_key_management, the one
		// that mints (the forwarding key does not exist before serve).
		c, err := rt.Credential()
		if err != nil {
			rt.Close()
			return fmt.Errorf("route %q: %w", rc.Name, err)
		}
		cred := c.Header()
		if !rc.APIKeyManagement {
			cred = routeCredential // as forwarded: a token, a JWT realm's shared secret
		}
		printCredential(out, rt.CredentialProvider())
		for _, h := range rt.Proxy().Hosts() {
			if err := checkHost(ctx, rt.Proxy(), h, cred, rc, out); err != nil {
				failed++
				fmt.Fprintf(out, "  %s: FAILED: %s\n", h.URL, err)
			}
		}
		rt.Close()
	}
	if failed > 0 {
		return fmt.Errorf("%d host(s) failed the check", failed)
	}
	return nil
}

func checkHost(ctx context.Context, p *proxy.Proxy, h *proxy.Upstream, cred string, rc *configs.Route, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// esgate's upstream connections wrap *tls.Conn, so Response.TLS is not
	// filled; the connection itself tells the presented chain.
	var chain []*x509.Certificate
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if s, ok := i.Conn.(interface{ ConnectionState() tls.ConnectionState }); ok {
			chain = s.ConnectionState().PeerCertificates
		}
	}})
	res, body, err := get(ctx, p, h, "/", cred)
	if err != nil {
		return explainDial(err)
	}
	fp := ""
	if len(chain) > 0 {
		fp = certs.Fingerprint(chain[len(chain)-1])
	}
	if res.StatusCode != http.StatusOK {
		return explainStatus(res, body)
	}
	var info struct {
		Name        string `json:"name"`
		ClusterName string `json:"cluster_name"`
		ClusterUUID string `json:"cluster_uuid"`
		Version     struct {
			Number      string `json:"number"`
			BuildFlavor string `json:"build_flavor"`
		} `json:"version"`
	}
	if err := json.Unmarshal(body, &info); err != nil {
		return fmt.Errorf("GET / did not answer with Elasticsearch's JSON: %w", err)
	}
	if res.Header.Get("X-Elastic-Product") != "Elasticsearch" {
		return errors.New("GET / has no X-Elastic-Product: Elasticsearch header: this is not Elasticsearch ≥ 7.14, and Logstash and the official clients will refuse it")
	}
	major, _, _ := strings.Cut(info.Version.Number, ".")
	if rc.RESTAPICompatibility == 7 && major != "8" {
		return fmt.Errorf("rest_api_compatibility: 7 needs Elasticsearch 8, and this cluster is Elasticsearch %s, whose REST API is compatible with 8 and %s only: every request esgate marks compatible-with=7 would get a 400; remove rest_api_compatibility and update the 7.x-era clients", info.Version.Number, major)
	}
	fmt.Fprintf(out, "  %s: OK\n", h.URL)
	fmt.Fprintf(out, "    cluster:        %s (uuid %s), node %s, Elasticsearch %s (major %s, build flavor %s)\n", info.ClusterName, info.ClusterUUID, info.Name, info.Version.Number, major, info.Version.BuildFlavor)
	if fp != "" {
		fmt.Fprintf(out, "    CA fingerprint: %s (top of the presented chain; ca_trusted_fingerprint)\n", fp)
	}
	res, body, err = get(ctx, p, h, "/_security/_authenticate", cred)
	if err != nil {
		return explainDial(err)
	}
	if res.StatusCode != http.StatusOK {
		return explainStatus(res, body)
	}
	var who struct {
		Username  string   `json:"username"`
		Roles     []string `json:"roles"`
		AuthRealm struct {
			Name string `json:"name"`
			Type string `json:"type"`
		} `json:"authentication_realm"`
		AuthType string `json:"authentication_type"`
		APIKey   *struct {
			ID   string `json:"id"`
			Name string `json:"name"`
		} `json:"api_key"`
	}
	if err := json.Unmarshal(body, &who); err != nil {
		return fmt.Errorf("parsing _security/_authenticate: %w", err)
	}
	line := fmt.Sprintf("user %q, realm %s (%s)", who.Username, who.AuthRealm.Name, who.AuthRealm.Type)
	if who.APIKey != nil {
		line = fmt.Sprintf("API key id %q (name %q) of user %q", who.APIKey.ID, who.APIKey.Name, who.Username)
	} else if len(who.Roles) > 0 {
		line += ", roles " + strings.Join(who.Roles, ",")
	}
	fmt.Fprintf(out, "    authenticated:  %s\n", line)
	return nil
}

func get(ctx context.Context, p *proxy.Proxy, h *proxy.Upstream, path, cred string) (*http.Response, []byte, error) {
	var res *http.Response
	var err error
	if cred == routeCredential {
		res, err = p.Probe(ctx, h, http.MethodGet, path)
	} else {
		res, err = p.ProbeAs(ctx, h, http.MethodGet, path, cred)
	}
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res, body, err
}

func explainDial(err error) error {
	var ve *certs.VerificationError
	if errors.As(err, &ve) {
		return ve
	}
	var de *proxy.DialError
	if errors.As(err, &de) && !de.TLS {
		return fmt.Errorf("%w: check hosts and that Elasticsearch is running and reachable from here", err)
	}
	if errors.As(err, &de) {
		return fmt.Errorf("%w: check that hosts points at Elasticsearch's HTTPS port and the TLS settings (ssl_supported_protocols, ssl_certificate for PKI)", err)
	}
	return err
}

// explainStatus turns an ES error answer into a sentence with the fix.
func explainStatus(res *http.Response, body []byte) error {
	e, _ := esproto.ParseError(body)
	reason := e.Reason
	if e.Additional != "" {
		reason += " (" + e.Additional + ")"
	}
	if reason == "" {
		reason = strings.TrimSpace(string(body))
	}
	switch res.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Errorf("401 Unauthorized: %s: check the credentials (user/password, api_key, bearer_token or ssl_certificate)", reason)
	case http.StatusForbidden:
		return fmt.Errorf("403 Forbidden: %s: grant the missing privilege to the user's role or the API key", reason)
	}
	return fmt.Errorf("%s: %s", res.Status, reason)
}

// routeCredential, as get's cred, sends the route's own forwarding
// credential: a short-lived token with its JWT realm shared secret.
const routeCredential = "\x00route"

// printCredential shows the credential's kind and, for a short-lived
// token, whose it is and when it expires: read from the JWT's claims,
// never the token.
func printCredential(out io.Writer, p auth.Provider) {
	ti, ok := p.(interface{ Info() token.Info })
	if !ok {
		kind := "none"
		if c, err := p.Credential(); err == nil {
			kind = c.Kind()
		}
		fmt.Fprintf(out, "  credential:     %s\n", kind)
		return
	}
	i := ti.Info()
	sub := i.Subject
	if sub == "" {
		sub = "(not a JWT)"
	}
	fmt.Fprintf(out, "  credential:     %s from %s, subject %q, expires %s (in %s)\n", i.Kind, i.Source, sub,
		i.Expiry.UTC().Format(time.RFC3339), time.Until(i.Expiry).Round(time.Second))
}
