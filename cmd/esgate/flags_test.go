package main

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/esgate/esgate/configs"
)

var updateHelp = flag.Bool("update-help", false, "rewrite testdata/help/*.txt from the commands' help")

// TestHelpIsGolden: each command's --help, exactly. A flag that lands in
// the wrong command, under the wrong heading or without its default shows
// up here as a diff to review (go test ./cmd/esgate -update-help).
func TestHelpIsGolden(t *testing.T) {
	for _, c := range commands() {
		var out, errOut bytes.Buffer
		code := run(context.Background(), []string{c.name, "--help"}, &out, &errOut)
		if c.name == "version" {
			continue // prints the version, takes no flags
		}
		if code != exitOK || errOut.Len() > 0 {
			t.Errorf("%s --help: code %d, stderr %q", c.name, code, errOut.String())
		}
		golden := filepath.Join("testdata", "help", c.name+".txt")
		if *updateHelp {
			os.MkdirAll(filepath.Dir(golden), 0o755)
			os.WriteFile(golden, out.Bytes(), 0o644)
			continue
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run go test ./cmd/esgate -update-help)", err)
		}
		if out.String() != string(want) {
			t.Errorf("esgate %s --help differs from %s (review, then go test ./cmd/esgate -update-help):\n%s", c.name, golden, out.String())
		}
	}
}

// TestCommandGroups: which config groups each command takes as flags.
func TestCommandGroups(t *testing.T) {
	conn := []configs.Group{configs.GroupCluster, configs.GroupTrust, configs.GroupCredential}
	want := map[string][]configs.Group{
		"serve":     configs.AllGroups,
		"check":     {configs.GroupRoute, configs.GroupCluster, configs.GroupTrust, configs.GroupCredential, configs.GroupManagedKey},
		"bootstrap": conn,
		"load":      conn,
	}
	for _, c := range commands() {
		if !slices.Equal(c.groups, want[c.name]) {
			t.Errorf("%s takes groups %v; want %v", c.name, c.groups, want[c.name])
		}
	}
	// Every config key is in serve's help: serve runs routes, and a
	// route may use any key.
	fs, _ := lookupCommand("serve").flagSet(noFlags{})
	for _, k := range configs.Keys() {
		if configs.GroupOf(k[0]) == "" {
			t.Errorf("key %s has no group", k[0])
		}
		if fs.Lookup(configs.FlagName(k[0])) == nil && !strings.HasPrefix(k[1], "deprecated") {
			t.Errorf("serve has no flag for %s", k[0])
		}
	}
}

// TestEveryFlagStatesItsDefault: every flag of every command says what
// happens when it is not given.
func TestEveryFlagStatesItsDefault(t *testing.T) {
	for _, c := range commands() {
		fs, _ := c.flagSet(c.opts())
		fs.VisitAll(func(f *flag.Flag) {
			if !strings.Contains(flagUsage(f), "(default") {
				t.Errorf("%s --%s: %q states no default", c.name, f.Name, flagUsage(f))
			}
		})
		// Every flag is under exactly one heading.
		seen := map[string]int{}
		for _, s := range c.sections(fs) {
			for _, n := range s.names {
				seen[n]++
			}
		}
		fs.VisitAll(func(f *flag.Flag) {
			if seen[f.Name] != 1 {
				t.Errorf("%s --%s is under %d headings", c.name, f.Name, seen[f.Name])
			}
		})
	}
}

// TestOwnFlagsAreRead: each of a command's own flags, given a value other
// than its default, changes the options the command runs with; a flag
// bound to nothing the command reads cannot hide in its help.
func TestOwnFlagsAreRead(t *testing.T) {
	for _, c := range commands() {
		fs0, _ := c.flagSet(c.opts())
		fs0.VisitAll(func(f *flag.Flag) {
			if _, isConfig := f.Value.(interface{ TypeName() string }); isConfig || f.Name == "config" || f.Name == "keystore" && len(c.groups) > 0 {
				return // config keys: bound into configs.Flags, tested there
			}
			base := c.opts()
			c.flagSet(base)
			o := c.opts()
			fs, _ := c.flagSet(o)
			val := "7"
			switch {
			case flagType(f) == "":
				val = "true"
				if f.DefValue == "true" {
					val = "false"
				}
			case flagType(f) == "duration":
				val = "7s"
			case flagType(f) == "string":
				val = "x-" + f.Name
			}
			if err := fs.Set(f.Name, val); err != nil {
				t.Errorf("%s --%s=%s: %v", c.name, f.Name, val, err)
				return
			}
			if reflect.DeepEqual(base, o) {
				t.Errorf("%s --%s=%s changes none of the command's options", c.name, f.Name, val)
			}
		})
	}
}

// TestForeignFlagNamesItsCommand: a flag that another command takes is an
// error that names that command, for every pair.
func TestForeignFlagNamesItsCommand(t *testing.T) {
	all := commands()
	for _, c := range all {
		own, _ := c.flagSet(c.opts())
		for _, o := range all {
			other, _ := o.flagSet(o.opts())
			other.VisitAll(func(f *flag.Flag) {
				if own.Lookup(f.Name) != nil {
					return
				}
				args := []string{c.name, "--" + f.Name + "=1"}
				if c.name == "keystore" {
					args = []string{"keystore", "list", "--" + f.Name + "=1"}
				}
				if c.name == "version" {
					return // takes no flags and ignores arguments
				}
				var out, errOut bytes.Buffer
				code := run(context.Background(), args, &out, &errOut)
				msg := errOut.String()
				if code != exitUsage || !strings.Contains(msg, "is not a flag of esgate "+c.name) || !strings.Contains(msg, "esgate "+o.name) {
					t.Errorf("esgate %s --%s: code %d, %q; want exit 2 naming esgate %s", c.name, f.Name, code, msg, o.name)
				}
			})
		}
	}
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"bootstrap", "--no-such-flag"}, &out, &errOut); code != exitUsage ||
		!strings.Contains(errOut.String(), "unknown flag --no-such-flag (see esgate bootstrap --help)") {
		t.Errorf("unknown flag: code %d, %q", code, errOut.String())
	}
}
