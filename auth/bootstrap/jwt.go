package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/elastic/go-elasticsearch/v8/typedapi/types"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types/enums/refresh"
)

// JWT describes a workload that authenticates to Elasticsearch with a JWT
// (an OAuth2/OIDC issuer's token, or a Kubernetes projected service-account
// token) through a JWT realm. Bootstrap maps the realm's principal to a
// role through the role-mapping API (the JWT realm cannot use
// role_mapping.yml) and prints the realm's elasticsearch.yml block, since
// realms live in elasticsearch.yml and the keystore, not behind an API.
type JWT struct {
	// Realm is the realm's name: xpack.security.authc.realms.jwt.<Realm>.
	Realm string
	// Principal is the token's sub claim (the realm's claims.principal is
	// sub), e.g. system:serviceaccount:logs:logstash.
	Principal string
	// Role is the role the principal gets (default: Options.WriterRole,
	// what publishing needs).
	Role string
	// Issuer is allowed_issuer: the iss claim, exactly.
	Issuer string
	// Audiences are allowed_audiences: one aud value must equal one of them.
	Audiences []string
	// JWKSet is pkc_jwkset_path: an https URL or a file relative to
	// Elasticsearch's config directory, holding a JWKS document. Needed for
	// the RS*, PS* and ES* algorithms.
	JWKSet string
	// Algorithms are allowed_signature_algorithms (default RS256).
	Algorithms []string
	// TokenType is token_type: id_token (default) or access_token.
	TokenType string
	// ClientAuthentication is client_authentication.type: shared_secret
	// (default, as Elasticsearch's) or none.
	ClientAuthentication string
	// Order is the realm's order (default 2); it must be unique among the
	// cluster's realms.
	Order int
	// Kubernetes marks a Kubernetes service-account issuer (for the
	// comments of the printed block; see KubernetesJWT).
	Kubernetes bool
}

// KubernetesJWT returns the JWT realm for Kubernetes projected
// service-account tokens issued by issuer (the cluster's
// --service-account-issuer): audience elasticsearch (the projected
// volume's audience), the JWKS at <issuer>/openid/v1/jwks, RS256 (what the
// API server signs with RSA keys), claims.principal sub, token_type
// id_token.
func KubernetesJWT(realm, principal, issuer string) JWT {
	return JWT{Realm: realm, Principal: principal, Issuer: issuer, Audiences: []string{"elasticsearch"},
		JWKSet: strings.TrimSuffix(issuer, "/") + "/openid/v1/jwks", Algorithms: []string{"RS256"},
		TokenType: "id_token", Kubernetes: true}
}

// jwtAlgorithms are the values allowed_signature_algorithms accepts.
var jwtAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}

func (j *JWT) defaults(writerRole string) {
	if j.Role == "" {
		j.Role = writerRole
	}
	if len(j.Algorithms) == 0 {
		j.Algorithms = []string{"RS256"}
	}
	if j.TokenType == "" {
		j.TokenType = "id_token"
	}
	if j.ClientAuthentication == "" {
		j.ClientAuthentication = "shared_secret"
	}
	if j.Order == 0 {
		j.Order = 2
	}
}

// Validate checks what Elasticsearch would refuse at startup, naming the
// bootstrap flag that sets it.
func (j JWT) Validate() error {
	switch {
	case j.Realm == "":
		return errors.New("--jwt-realm: the realm's name is required")
	case strings.ContainsAny(j.Realm, ". \t\n:"):
		return fmt.Errorf("--jwt-realm %q: a realm name is one setting-name segment: no dots, colons or spaces", j.Realm)
	case j.Principal == "":
		return errors.New("--jwt-principal: the token's sub claim (e.g. system:serviceaccount:<namespace>:<serviceaccount>) is required with --jwt-realm")
	case j.Issuer == "":
		if j.Kubernetes {
			return errors.New("--jwt-issuer: the cluster's service-account issuer is required with --jwt-kubernetes (kubectl get --raw /.well-known/openid-configuration shows it as issuer)")
		}
		return errors.New("--jwt-issuer: allowed_issuer is required: the exact iss claim of the tokens")
	case len(j.Audiences) == 0:
		return errors.New("--jwt-audience: allowed_audiences is required: the aud the tokens carry")
	}
	pkc := false
	for _, a := range j.Algorithms {
		if !slices.Contains(jwtAlgorithms, a) {
			return fmt.Errorf("--jwt-algorithms: %q is not one of %s", a, strings.Join(jwtAlgorithms, ", "))
		}
		pkc = pkc || !strings.HasPrefix(a, "HS")
	}
	if pkc && j.JWKSet == "" {
		return fmt.Errorf("--jwt-jwks-url: %s needs pkc_jwkset_path (an https URL or a file in Elasticsearch's config directory holding the issuer's JWKS)", strings.Join(j.Algorithms, ","))
	}
	if strings.HasPrefix(strings.ToLower(j.JWKSet), "http://") {
		return fmt.Errorf("--jwt-jwks-url %q: Elasticsearch accepts only https URLs (\"Only HTTPS is supported\"), or a file", j.JWKSet)
	}
	if j.TokenType != "id_token" && j.TokenType != "access_token" {
		return fmt.Errorf("--jwt-token-type %q: want id_token or access_token", j.TokenType)
	}
	if j.ClientAuthentication != "shared_secret" && j.ClientAuthentication != "none" {
		return fmt.Errorf("--jwt-client-authentication %q: want shared_secret or none", j.ClientAuthentication)
	}
	return nil
}

// MappingName is the role mapping's name: esgate-jwt-<realm>-<hostname>.
func (o *Options) MappingName() string {
	return "esgate-jwt-" + o.JWT.Realm + "-" + o.Hostname
}

// ElasticsearchYML returns the realm's elasticsearch.yml block, with
// comments for what goes into the keystore.
func (j JWT) ElasticsearchYML() string {
	var b strings.Builder
	prefix := "xpack.security.authc.realms.jwt." + j.Realm
	q := func(s string) string { r, _ := json.Marshal(s); return string(r) } // a JSON string is a YAML string
	list := func(s []string) string {
		out := make([]string, len(s))
		for i, v := range s {
			out[i] = q(v)
		}
		return "[" + strings.Join(out, ", ") + "]"
	}
	fmt.Fprintf(&b, "# elasticsearch.yml on every node (then restart the nodes):\n")
	fmt.Fprintf(&b, "%s:\n", prefix)
	fmt.Fprintf(&b, "  order: %d  # unique among this cluster's realms\n", j.Order)
	fmt.Fprintf(&b, "  token_type: %s\n", j.TokenType)
	fmt.Fprintf(&b, "  allowed_issuer: %s\n", q(j.Issuer))
	fmt.Fprintf(&b, "  allowed_audiences: %s\n", list(j.Audiences))
	if j.TokenType == "access_token" {
		fmt.Fprintf(&b, "  allowed_subjects: %s  # access_token realms must list their subjects\n", list([]string{j.Principal}))
	}
	fmt.Fprintf(&b, "  allowed_signature_algorithms: %s\n", list(j.Algorithms))
	if j.JWKSet != "" {
		fmt.Fprintf(&b, "  pkc_jwkset_path: %s\n", q(j.JWKSet))
	}
	fmt.Fprintf(&b, "  claims.principal: sub\n")
	fmt.Fprintf(&b, "  client_authentication.type: %s\n", j.ClientAuthentication)
	if j.Kubernetes {
		fmt.Fprintf(&b, "  # Elasticsearch fetches the JWKS without credentials: bind the ClusterRole\n")
		fmt.Fprintf(&b, "  # system:service-account-issuer-discovery to the group system:unauthenticated,\n")
		fmt.Fprintf(&b, "  # and make Elasticsearch trust the API server's certificate (ssl.certificate_authorities:\n")
		fmt.Fprintf(&b, "  # a file in its config directory). Or save kubectl get --raw /openid/v1/jwks to a\n")
		fmt.Fprintf(&b, "  # file in the config directory and name that file in pkc_jwkset_path.\n")
	}
	var keystore []string
	if j.ClientAuthentication == "shared_secret" {
		keystore = append(keystore, prefix+".client_authentication.shared_secret")
	}
	for _, a := range j.Algorithms {
		if strings.HasPrefix(a, "HS") {
			keystore = append(keystore, prefix+".hmac_key")
			break
		}
	}
	for _, k := range keystore {
		fmt.Fprintf(&b, "# and in every node's keystore: bin/elasticsearch-keystore add %s\n", k)
	}
	if j.ClientAuthentication == "shared_secret" {
		fmt.Fprintf(&b, "# (esgate sends that secret from jwt_shared_secret_file; after changing it, POST /_nodes/reload_secure_settings)\n")
	}
	return b.String()
}

// mappingBody is the role mapping bootstrap puts: the role, enabled, and
// rules all of realm.name = the realm and username = the principal, as
// Elasticsearch's JWT guide writes them.
func (o *Options) mappingBody() []byte {
	body := map[string]any{
		"roles":   []string{o.JWT.Role},
		"enabled": true,
		"rules": map[string]any{"all": []any{
			map[string]any{"field": map[string]any{"realm.name": o.JWT.Realm}},
			map[string]any{"field": map[string]any{"username": o.JWT.Principal}},
		}},
		"metadata": map[string]any{"managed_by": "esgate"},
	}
	b, _ := json.Marshal(body)
	return b
}

// ruleString renders a role-mapping rule in a canonical form: field values
// sorted, all/any members sorted, so that equal rules compare equal
// whichever way they were written.
func ruleString(raw json.RawMessage) (string, error) {
	var r struct {
		All    []json.RawMessage          `json:"all"`
		Any    []json.RawMessage          `json:"any"`
		Except json.RawMessage            `json:"except"`
		Field  map[string]json.RawMessage `json:"field"`
	}
	if err := json.Unmarshal(raw, &r); err != nil {
		return "", err
	}
	var parts []string
	for _, set := range []struct {
		op    string
		rules []json.RawMessage
	}{{"all", r.All}, {"any", r.Any}} {
		if set.rules == nil {
			continue
		}
		var members []string
		for _, m := range set.rules {
			s, err := ruleString(m)
			if err != nil {
				return "", err
			}
			members = append(members, s)
		}
		sort.Strings(members)
		parts = append(parts, set.op+"("+strings.Join(members, ",")+")")
	}
	if len(r.Except) > 0 && string(r.Except) != "null" {
		s, err := ruleString(r.Except)
		if err != nil {
			return "", err
		}
		parts = append(parts, "except("+s+")")
	}
	var fields []string
	for k, v := range r.Field {
		var vals []any
		if err := json.Unmarshal(v, &vals); err != nil {
			var one any
			if err := json.Unmarshal(v, &one); err != nil {
				return "", err
			}
			vals = []any{one}
		}
		strs := make([]string, len(vals))
		for i, x := range vals {
			strs[i] = fmt.Sprint(x)
		}
		sort.Strings(strs)
		fields = append(fields, k+"="+strings.Join(strs, "|"))
	}
	sort.Strings(fields)
	if len(fields) > 0 {
		parts = append(parts, "field("+strings.Join(fields, ";")+")")
	}
	return strings.Join(parts, ","), nil
}

// diffMapping describes how the current mapping differs from the wanted
// one ("" when equal).
func diffMapping(want []byte, cur types.SecurityRoleMapping) (string, error) {
	var w struct {
		Roles []string        `json:"roles"`
		Rules json.RawMessage `json:"rules"`
	}
	if err := json.Unmarshal(want, &w); err != nil {
		return "", err
	}
	var parts []string
	if add, del := setDiff(w.Roles, cur.Roles); len(add)+len(del) > 0 || len(cur.RoleTemplates) > 0 {
		d := "roles" + fmtDiff(add, del)
		if len(cur.RoleTemplates) > 0 {
			d += " -role_templates"
		}
		parts = append(parts, d)
	}
	if !cur.Enabled {
		parts = append(parts, "enable")
	}
	curRules, err := json.Marshal(cur.Rules)
	if err != nil {
		return "", err
	}
	ws, err := ruleString(w.Rules)
	if err != nil {
		return "", err
	}
	cs, err := ruleString(curRules)
	if err != nil {
		return "", fmt.Errorf("reading the current rules: %w", err)
	}
	if ws != cs {
		parts = append(parts, "rules "+cs+" -> "+ws)
	}
	return strings.Join(parts, "; "), nil
}

// roleMapping maps the JWT realm's principal to its role: GET, compare,
// PUT only when different (or missing).
func (r *Runner) roleMapping(ctx context.Context) (Action, error) {
	name := r.Opts.MappingName()
	j := r.Opts.JWT
	a := Action{Kind: "role_mapping", Name: name}
	want := r.Opts.mappingBody()
	res, err := r.ES.Security.GetRoleMapping().Name(name).Do(ctx)
	cur, found := res[name]
	switch {
	case esStatus(err) == 404 || (err == nil && !found):
		a.Op = "create"
		a.Detail = fmt.Sprintf("realm %s user %q -> roles [%s]", j.Realm, j.Principal, j.Role)
	case err != nil:
		return a, explain(fmt.Sprintf("getting role mapping %q", name), err)
	default:
		d, err := diffMapping(want, cur)
		if err != nil {
			return a, fmt.Errorf("comparing role mapping %q: %w", name, err)
		}
		if d == "" {
			a.Op = "unchanged"
			return a, nil
		}
		a.Op, a.Detail = "update", d
	}
	if r.Opts.DryRun {
		return a, nil
	}
	if _, err := r.ES.Security.PutRoleMapping(name).Refresh(refresh.True).Raw(bytes.NewReader(want)).Do(ctx); err != nil {
		return a, explain(fmt.Sprintf("putting role mapping %q", name), err)
	}
	return a, nil
}

// checkJWT validates JWT and that the role_mapping piece has a realm.
func (o *Options) checkJWT() error {
	if o.JWT == nil {
		if slices.Contains(o.Only, "role_mapping") {
			return errors.New("--only role_mapping: give the realm and principal to map with --jwt-realm and --jwt-principal")
		}
		return nil
	}
	return o.JWT.Validate()
}
