package configs

import (
	"flag"
	"fmt"
	"reflect"
)

// Group is the concern a config key belongs to. Every key has exactly one
// (its struct tag group:"…"); a command takes as flags the keys of the
// groups it uses, and its help shows each group under its own heading.
type Group string

// The groups, in the order help and docs/configuration.md show them.
const (
	GroupFiles         Group = "files"         // how often the files are re-read (beside --config and --keystore)
	GroupRoute         Group = "route"         // the route's name
	GroupListener      Group = "listener"      // the listener and its front door: TLS, client authentication
	GroupCluster       Group = "cluster"       // which Elasticsearch and how to reach it
	GroupTrust         Group = "trust"         // which server certificates are trusted
	GroupCredential    Group = "credential"    // what esgate authenticates with
	GroupManagedKey    Group = "managed_key"   // API keys esgate mints and renews itself
	GroupPolicy        Group = "policy"        // which requests the credential is lent to
	GroupUpstream      Group = "upstream"      // health checks of hosts, what esgate changes on the way
	GroupForwarding    Group = "forwarding"    // limits: connections, sizes, idle and drain times
	GroupObservability Group = "observability" // status listener, logs, metrics, reloads
)

// AllGroups lists every group in display order.
var AllGroups = []Group{GroupFiles, GroupRoute, GroupListener, GroupCluster, GroupTrust, GroupCredential, GroupManagedKey, GroupPolicy, GroupUpstream, GroupForwarding, GroupObservability}

// Title is the group's heading in help and documentation.
func (g Group) Title() string {
	switch g {
	case GroupFiles:
		return "Config file and reloads"
	case GroupRoute:
		return "Route"
	case GroupListener:
		return "Listener and front door"
	case GroupCluster:
		return "Cluster"
	case GroupTrust:
		return "Trust"
	case GroupCredential:
		return "Credential"
	case GroupManagedKey:
		return "Managed API keys"
	case GroupPolicy:
		return "Policy"
	case GroupUpstream:
		return "Health checks and rewriting"
	case GroupForwarding:
		return "Forwarding limits"
	case GroupObservability:
		return "Observability"
	}
	return string(g)
}

// GroupOf returns the group of a config key ("" for an unknown key).
func GroupOf(key string) Group {
	for _, f := range allFields {
		if f.key == key {
			return f.group
		}
	}
	return ""
}

// FlagsOf lists the flag names (without dashes) of a group's keys, in the
// order of the config struct. File-only keys are not flags.
func FlagsOf(g Group) []string {
	var out []string
	for _, f := range allFields {
		if f.group == g && !f.noflag {
			out = append(out, FlagName(f.key))
		}
	}
	return out
}

// FileFlags are the flags every command that reads a config takes besides
// its groups' keys: --config and --keystore.
var FileFlags = []string{"config", "keystore"}

// checkGroups panics at start-up if a key has no known group: a new key
// must say which commands' help it belongs in.
func checkGroups(fields []field) []field {
	for _, f := range fields {
		known := false
		for _, g := range AllGroups {
			known = known || f.group == g
		}
		if !known {
			panic(fmt.Sprintf("configs: key %s has no known group tag", f.key))
		}
	}
	return fields
}

// typeName names the kind of value a key's flag takes, for help.
func typeName(f field) string {
	t := reflect.TypeFor[Config]().FieldByIndex(f.index).Type
	switch {
	case t == reflect.TypeFor[Duration]():
		return "duration"
	case t == reflect.TypeFor[ByteSize]():
		return "size"
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return ""
	case reflect.Slice:
		return "list"
	case reflect.Map:
		return "name=value"
	case reflect.Int, reflect.Int64:
		return "int"
	case reflect.Float64:
		return "number"
	}
	return "string"
}

var _ flag.Value = (*flagValue)(nil)
