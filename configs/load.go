package configs

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// field describes one config key.
type field struct {
	key    string
	help   string
	index  []int // into Config
	global bool  // not a route key
	secret bool
	noflag bool // file-only key
	group  Group
}

var (
	routeFields = collect(reflect.TypeFor[Route](), nil, false)
	// allFields index into Config, whose field 0 is the embedded Route.
	allFields = checkGroups(append(collect(reflect.TypeFor[Route](), []int{0}, false), collect(reflect.TypeFor[Config](), nil, true)...))
)

func collect(t reflect.Type, prefix []int, global bool) []field {
	var out []field
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("yaml")
		if tag == "" || tag == "-" || strings.HasPrefix(tag, ",") || !f.IsExported() {
			continue
		}
		idx := append(append([]int{}, prefix...), i)
		out = append(out, field{key: tag, help: f.Tag.Get("help"), index: idx, global: global, secret: f.Tag.Get("secret") != "", noflag: f.Tag.Get("noflag") != "", group: Group(f.Tag.Get("group"))})
	}
	return out
}

// Keys lists every config key with its help text, for documentation.
func Keys() [][2]string {
	var out [][2]string
	for _, f := range allFields {
		out = append(out, [2]string{f.key, f.help})
	}
	return out
}

// FlagName is the command-line flag of a config key: underscores become dashes.
func FlagName(key string) string { return strings.ReplaceAll(key, "_", "-") }

// Flags binds every config key to a flag on fs; Load applies them over the file.
type Flags struct {
	ConfigFile string
	// Keystore is the --keystore path ("" for the default).
	Keystore string
	set      map[string][]string
	order    []string
}

// RegisterFlags adds --config, --keystore and one flag per config key of
// the given groups to fs (all groups when none are given). The config
// file may hold every key whatever the groups: they choose only flags.
func RegisterFlags(fs *flag.FlagSet, groups ...Group) *Flags {
	fl := &Flags{set: map[string][]string{}}
	fs.StringVar(&fl.ConfigFile, "config", "", "YAML config file; flags override its values (default none)")
	fs.StringVar(&fl.Keystore, "keystore", "", "keystore for ${NAME} references, looked up before the environment (default: esgate.keystore beside the config file, if present)")
	if len(groups) == 0 {
		groups = AllGroups
	}
	for _, f := range allFields {
		if f.noflag || !slices.Contains(groups, f.group) {
			continue
		}
		fs.Var(&flagValue{fl: fl, f: f, isBool: isBool(f)}, FlagName(f.key), f.help)
	}
	return fl
}

// RegisterKeys adds the flags of single config keys to fs, beside the
// groups RegisterFlags added: for a command that uses one key of a group.
func (fl *Flags) RegisterKeys(fs *flag.FlagSet, keys ...string) {
	for _, k := range keys {
		for _, f := range allFields {
			if f.key == k && !f.noflag {
				fs.Var(&flagValue{fl: fl, f: f, isBool: isBool(f)}, FlagName(f.key), f.help)
			}
		}
	}
}

func isBool(f field) bool {
	t := reflect.TypeFor[Config]().FieldByIndex(f.index).Type
	return t.Kind() == reflect.Bool || (t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Bool)
}

type flagValue struct {
	fl     *Flags
	f      field
	isBool bool
}

func (v *flagValue) String() string { return "" }

// TypeName names the value the flag takes ("" for a switch), for help.
func (v *flagValue) TypeName() string { return typeName(v.f) }
func (v *flagValue) IsBoolFlag() bool {
	return v.isBool
}
func (v *flagValue) Set(s string) error {
	if _, ok := v.fl.set[v.f.key]; !ok {
		v.fl.order = append(v.fl.order, v.f.key)
	}
	v.fl.set[v.f.key] = append(v.fl.set[v.f.key], s)
	return nil
}

// Load reads the config file named by --config (if any), expands ${VAR}
// references, applies the flags and returns the unvalidated Config.
func Load(fl *Flags, lookup func(string) (string, bool)) (*Config, error) {
	if lookup == nil {
		lookup = os.LookupEnv
	}
	cfg := &Config{explicit: map[string]bool{}}
	var routeNodes []*yaml.Node
	if fl != nil && fl.ConfigFile != "" {
		data, err := os.ReadFile(fl.ConfigFile)
		if err != nil {
			return nil, fmt.Errorf("reading config file: %w", err)
		}
		routeNodes, err = decodeFile(data, cfg, lookup)
		if err != nil {
			return nil, fmt.Errorf("config file %s: %w", fl.ConfigFile, err)
		}
	}
	if fl != nil && len(routeNodes) > 0 {
		for _, k := range []string{"listen", "name"} {
			if _, ok := fl.set[k]; ok {
				return nil, fmt.Errorf("--%s: cannot be used when the config file defines routes; set listen in each route", FlagName(k))
			}
		}
	}
	// Flags are expanded into a copy on every Load: the flag values keep
	// their ${VAR} references, so a reload sees a changed keystore or
	// environment.
	var flagVals map[string][]string
	if fl != nil {
		flagVals = make(map[string][]string, len(fl.set))
		for k, vals := range fl.set {
			out := make([]string, len(vals))
			for i, v := range vals {
				x, err := ExpandEnv(v, lookup)
				if err != nil {
					return nil, fmt.Errorf("--%s: %w", FlagName(k), err)
				}
				out[i] = x
			}
			flagVals[k] = out
			cfg.explicit[k] = true
		}
		if err := applyFlags(reflect.ValueOf(cfg).Elem(), fl.order, flagVals, allFields); err != nil {
			return nil, err
		}
	}
	for i, n := range routeNodes {
		r := cfg.Route // inherit the top-level route keys
		r.CustomHeaders = copyMap(r.CustomHeaders)
		r.clientSide = append([]string(nil), r.clientSide...)
		if err := decodeMapping(n, reflect.ValueOf(&r).Elem(), routeFields, lookup, &r.clientSide); err != nil {
			return nil, fmt.Errorf("config file %s: routes[%d]: %w", fl.ConfigFile, i, err)
		}
		if fl != nil {
			if err := applyFlags(reflect.ValueOf(&r).Elem(), fl.order, flagVals, routeFields); err != nil {
				return nil, err
			}
		}
		cfg.Routes = append(cfg.Routes, r)
	}
	if len(cfg.Routes) == 0 {
		cfg.Routes = []Route{cfg.Route}
	}
	return cfg, nil
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func applyFlags(v reflect.Value, order []string, set map[string][]string, fields []field) error {
	for _, key := range order {
		for _, f := range fields {
			if f.key != key {
				continue
			}
			var vals []string
			for _, s := range set[key] {
				if isList(v.FieldByIndex(f.index)) {
					vals = append(vals, splitList(s)...)
				} else {
					vals = append(vals, s)
				}
			}
			if err := setField(v.FieldByIndex(f.index), vals); err != nil {
				return fmt.Errorf("--%s: %w", FlagName(key), err)
			}
		}
	}
	return nil
}

func isList(v reflect.Value) bool {
	return v.Kind() == reflect.Slice || v.Kind() == reflect.Map
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func decodeFile(data []byte, cfg *Config, lookup func(string) (string, bool)) ([]*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of keys to values", root.Line)
	}
	var routes []*yaml.Node
	rest := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, val := root.Content[i], root.Content[i+1]
		if k.Value == "bootstrap" {
			continue // esgate bootstrap's record in a secrets file; serve ignores it
		}
		if k.Value == "routes" {
			if val.Kind != yaml.SequenceNode {
				return nil, fmt.Errorf("line %d: routes: want a list of routes", val.Line)
			}
			for _, r := range val.Content {
				if r.Kind != yaml.MappingNode {
					return nil, fmt.Errorf("line %d: routes: each route is a mapping of keys", r.Line)
				}
				routes = append(routes, r)
			}
			continue
		}
		rest.Content = append(rest.Content, k, val)
		cfg.explicit[k.Value] = true
	}
	return routes, decodeMapping(rest, reflect.ValueOf(cfg).Elem(), allFields, lookup, &cfg.Route.clientSide)
}

// clientSideKeys are the Logstash elasticsearch output settings that the
// client applies, not the connection: an operator copying an output block
// gets them accepted (and reported), never a startup error.
var clientSideKeys = map[string]bool{}

func init() {
	for _, k := range strings.Fields(`action bulk_path codec data_stream data_stream_auto_routing
		data_stream_dataset data_stream_namespace data_stream_sync_fields data_stream_type
		dlq_custom_codes dlq_on_failed_indexname_interpolation doc_as_upsert document_id
		document_type drop_error_types ecs_compatibility enable_metric failure_type_logging_whitelist
		id ilm_enabled ilm_pattern ilm_policy ilm_rollover_alias index join_field manage_template
		parameters parent pipeline retry_initial_interval retry_max_interval retry_on_conflict routing
		script script_lang script_type script_var_name scripted_upsert silence_errors_in_log sniffing
		sniffing_delay sniffing_path template template_api template_name template_overwrite upsert
		validate_after_inactivity version version_type workers`) {
		clientSideKeys[k] = true
	}
}

func decodeMapping(n *yaml.Node, v reflect.Value, fields []field, lookup func(string) (string, bool), notes *[]string) error {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		var f *field
		for j := range fields {
			if fields[j].key == k.Value {
				f = &fields[j]
			}
		}
		if f == nil && clientSideKeys[k.Value] {
			*notes = append(*notes, k.Value)
			continue
		}
		if f == nil {
			return fmt.Errorf("line %d: unknown key %q%s", k.Line, k.Value, suggest(k.Value, fields))
		}
		if seen[k.Value] {
			return fmt.Errorf("line %d: %s: given twice", k.Line, k.Value)
		}
		seen[k.Value] = true
		var vals []string
		target := v.FieldByIndex(f.index)
		switch val.Kind {
		case yaml.ScalarNode:
			if val.Tag == "!!null" {
				continue
			}
			vals = []string{val.Value}
			if target.Kind() == reflect.Slice {
				vals = splitList(val.Value)
			}
		case yaml.SequenceNode:
			if target.Kind() != reflect.Slice {
				return fmt.Errorf("line %d: %s: want a single value, not a list", val.Line, k.Value)
			}
			for _, e := range val.Content {
				if e.Kind != yaml.ScalarNode {
					return fmt.Errorf("line %d: %s: want a list of strings", e.Line, k.Value)
				}
				vals = append(vals, e.Value)
			}
		case yaml.MappingNode:
			if target.Kind() != reflect.Map {
				return fmt.Errorf("line %d: %s: want a single value, not a mapping", val.Line, k.Value)
			}
			for j := 0; j+1 < len(val.Content); j += 2 {
				vals = append(vals, val.Content[j].Value+"="+val.Content[j+1].Value)
			}
		default:
			return fmt.Errorf("line %d: %s: unsupported value", val.Line, k.Value)
		}
		for j, s := range vals {
			x, err := ExpandEnv(s, lookup)
			if err != nil {
				return fmt.Errorf("line %d: %s: %w", val.Line, k.Value, err)
			}
			vals[j] = x
		}
		if err := setField(target, vals); err != nil {
			return fmt.Errorf("line %d: %s: %w", val.Line, k.Value, err)
		}
	}
	return nil
}

func suggest(k string, fields []field) string {
	var best string
	bestD := 3 + len(k)/8 // a few typos, more for long keys
	for _, f := range fields {
		if d := editDistance(k, f.key); d < bestD {
			best, bestD = f.key, d
		}
	}
	for c := range clientSideKeys {
		if d := editDistance(k, c); d < bestD || (d == bestD && c < best) {
			best, bestD = c, d
		}
	}
	if k == "routes" {
		return " (routes is only allowed at the top level)"
	}
	if best != "" {
		return fmt.Sprintf(" (did you mean %q?)", best)
	}
	return ""
}

// Nearest returns the candidate closest to word within a few typos, as
// the "did you mean" of an unknown key or command ("" when none is that
// close).
func Nearest(word string, candidates []string) string {
	var best string
	bestD := 3 + len(word)/8
	for _, c := range candidates {
		if d := editDistance(word, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
		}
		prev = cur
	}
	return prev[len(b)]
}

// setField assigns the string values to a field of one of the config types.
func setField(v reflect.Value, vals []string) error {
	one := func() (string, error) {
		if len(vals) != 1 {
			return "", errors.New("want a single value")
		}
		return vals[0], nil
	}
	switch v.Interface().(type) {
	case Duration:
		s, err := one()
		if err != nil {
			return err
		}
		d, err := ParseDuration(s)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(d))
		return nil
	case ByteSize:
		s, err := one()
		if err != nil {
			return err
		}
		b, err := ParseByteSize(s)
		if err != nil {
			return err
		}
		v.Set(reflect.ValueOf(b))
		return nil
	}
	switch v.Kind() {
	case reflect.Pointer: // an optional value (*bool): set means given
		e := reflect.New(v.Type().Elem())
		if err := setField(e.Elem(), vals); err != nil {
			return err
		}
		v.Set(e)
	case reflect.String:
		s, err := one()
		if err != nil {
			return err
		}
		v.SetString(s)
	case reflect.Bool:
		s, err := one()
		if err != nil {
			return err
		}
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int:
		s, err := one()
		if err != nil {
			return err
		}
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("want a whole number, got %q", s)
		}
		v.SetInt(int64(n))
	case reflect.Float64:
		s, err := one()
		if err != nil {
			return err
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return fmt.Errorf("want a number, got %q", s)
		}
		v.SetFloat(f)
	case reflect.Slice:
		v.Set(reflect.ValueOf(append([]string{}, vals...)))
	case reflect.Map:
		m := map[string]string{}
		for _, s := range vals {
			k, val, ok := strings.Cut(s, "=")
			if !ok {
				k, val, ok = strings.Cut(s, ":")
			}
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				return fmt.Errorf("want Name=value, got %q", s)
			}
			m[k] = strings.TrimSpace(val)
		}
		v.Set(reflect.ValueOf(m))
	default:
		return fmt.Errorf("unsupported field type %s", v.Type())
	}
	return nil
}
