package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/esgate/esgate/configs"
)

// flagger is a command's own flags: flags binds them on fs.
type flagger interface{ flags(fs *flag.FlagSet) }

// noFlags is the options of a command without flags of its own.
type noFlags struct{}

func (noFlags) flags(*flag.FlagSet) {}

// command is one esgate command as its help and its flag parsing see it.
// Its flag set is built by one function for parsing, for --help and for
// the lookup that names which command takes a flag, so the three cannot
// disagree.
type command struct {
	name     string
	synopsis string // after "esgate NAME"
	summary  string
	detail   string // more about the command, for its help
	// groups are the config key groups the command takes as flags, with
	// --config and --keystore; none: the command reads no esgate config.
	groups []configs.Group
	// keys are single config keys of other groups the command also takes.
	keys []string
	// own is the heading of the command's own flags.
	own string
	// opts returns fresh options of the type the command parses into.
	opts func() flagger
	// run runs the command with its arguments (after its name) and
	// returns the exit code.
	run func(in invocation) int
}

// invocation is one run of a command: its context, its arguments after
// the command's name, and the process's streams.
type invocation struct {
	ctx            context.Context
	args           []string
	stdin          io.Reader
	stdout, stderr io.Writer
}

var (
	connectionGroups = []configs.Group{configs.GroupCluster, configs.GroupTrust, configs.GroupCredential}
)

// commands lists every command in the order the top-level usage shows
// them. It is a function, not a variable, because the commands' own
// code refers back to it.
func commands() []command {
	return []command{
		{name: "serve", synopsis: "[--config FILE] [flags]", summary: "run the proxy",
			groups: configs.AllGroups, opts: func() flagger { return noFlags{} },
			run: serveCmd},
		{name: "check", synopsis: "[--config FILE] [flags]", summary: "connect to each route's hosts: cluster, CA fingerprint, who the credentials are; --privileges: what they may do",
			groups: []configs.Group{configs.GroupRoute, configs.GroupCluster, configs.GroupTrust, configs.GroupCredential, configs.GroupManagedKey},
			keys:   []string{"rest_api_compatibility"}, own: "Check", opts: func() flagger { return &checkFlags{} },
			run: func(in invocation) int { return checkCmd(in.ctx, in.args, in.stdout, in.stderr) }},
		{name: "bootstrap", synopsis: "[flags]", summary: "provision Logstash's roles, users and API keys (idempotent; --dry-run)",
			groups: connectionGroups, own: "Bootstrap", opts: func() flagger { return &bootstrapFlags{} },
			run: func(in invocation) int { return bootstrapCmd(in.ctx, in.args, in.stdout, in.stderr) }},
		{name: "load", synopsis: "[--target URL] [flags] | report [--verify] FILE|DIR|-...", summary: "bulk load generator (closed or open loop, --verify; --shard I/N, merged by load report)",
			groups: connectionGroups, own: "Load", opts: func() flagger { return &loadFlags{} },
			run: func(in invocation) int { return loadCmd(in.ctx, in.args, in.stdout, in.stderr) }},
		{name: "probe", synopsis: "[--status-listen ADDR] [--live]", summary: "exit 0 if a running esgate is ready (alive), else 1: for exec probes and HEALTHCHECK",
			own: "Probe", opts: func() flagger { return &probeFlags{} },
			run: func(in invocation) int { return probeCmd(in.ctx, in.args, in.stdout, in.stderr) }},
		{name: "keystore", synopsis: "create|add|list|show|remove", summary: "manage the encrypted keystore for ${NAME} values", detail: keystoreDetail,
			own: "Keystore", opts: func() flagger { return &keystoreFlags{} },
			run: func(in invocation) int { return keystoreCmd(in.args, in.stdin, in.stdout, in.stderr) }},
		{name: "hash-password", synopsis: "[--token] < secret", summary: "the stored form of a client's password (bcrypt) or token (SHA-256)",
			own: "Hash-password", opts: func() flagger { return &hashFlags{} },
			run: func(in invocation) int { return hashPasswordCmd(in.args, in.stdin, in.stdout, in.stderr) }},
		{name: "migrate", synopsis: "[--in-place] PIPELINE...", summary: "move the elasticsearch plugins' connections and credentials from Logstash pipelines into an esgate config", detail: migrateDetail,
			own: "Migrate", opts: func() flagger { return &migrateFlags{} },
			run: func(in invocation) int { return migrateCmd(in.ctx, in.args, in.stdout, in.stderr) }},
		{name: "version", summary: "print the version", opts: func() flagger { return noFlags{} },
			run: func(in invocation) int { fmt.Fprintln(in.stdout, "esgate", version); return exitOK }},
	}
}

// lookupCommand returns the named command.
func lookupCommand(name string) command {
	for _, c := range commands() {
		if c.name == name {
			return c
		}
	}
	panic("esgate: no command " + name)
}

// flagSet builds c's flags, bound to o (which must be of c.opts's type).
func (c command) flagSet(o flagger) (*flag.FlagSet, *configs.Flags) {
	fs := flag.NewFlagSet("esgate "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	var fl *configs.Flags
	if len(c.groups) > 0 {
		fl = configs.RegisterFlags(fs, c.groups...)
		fl.RegisterKeys(fs, c.keys...)
	}
	o.flags(fs)
	return fs, fl
}

// flagNames lists the flags of c's help, by section.
type section struct {
	title string
	names []string
}

func (c command) sections(fs *flag.FlagSet) []section {
	var out []section
	seen := map[string]bool{}
	if len(c.groups) > 0 {
		// The files and how often they are re-read go together.
		files := section{"Config file", configs.FileFlags}
		if slices.Contains(c.groups, configs.GroupFiles) {
			files = section{configs.GroupFiles.Title(), append(slices.Clone(configs.FileFlags), configs.FlagsOf(configs.GroupFiles)...)}
		}
		out = append(out, files)
		for _, g := range configs.AllGroups {
			if g == configs.GroupFiles {
				continue
			}
			var names []string
			if slices.Contains(c.groups, g) {
				names = configs.FlagsOf(g)
			} else {
				for _, k := range c.keys {
					if configs.GroupOf(k) == g {
						names = append(names, configs.FlagName(k))
					}
				}
			}
			if len(names) > 0 {
				out = append(out, section{g.Title(), names})
			}
		}
		for _, s := range out {
			for _, n := range s.names {
				seen[n] = true
			}
		}
	}
	var own []string
	fs.VisitAll(func(f *flag.Flag) {
		if !seen[f.Name] {
			own = append(own, f.Name)
		}
	})
	if g, ok := c.opts().(interface{ flagGroups() []section }); ok && len(own) > 0 {
		return append(out, g.flagGroups()...) // the command groups its own flags
	}
	if len(own) > 0 {
		out = append(out, section{c.own, own})
	}
	return out
}

// help writes c's usage: the synopsis, the summary, and every flag under
// its group's heading with the value it takes and its default.
func (c command) help(w io.Writer) {
	fs, _ := c.flagSet(c.opts())
	fmt.Fprintf(w, "Usage: esgate %s %s\n\n%s.\n", c.name, c.synopsis, upperFirst(c.summary))
	if c.detail != "" {
		fmt.Fprint(w, "\n"+c.detail)
	}
	for _, s := range c.sections(fs) {
		fmt.Fprintf(w, "\n%s:\n", s.title)
		for _, n := range s.names {
			f := fs.Lookup(n)
			fmt.Fprintf(w, "  --%s", n)
			if t := flagType(f); t != "" {
				fmt.Fprintf(w, " %s", t)
			}
			fmt.Fprintf(w, "\n      %s\n", flagUsage(f))
		}
	}
	if len(c.groups) > 0 {
		fmt.Fprint(w, "\nList flags take a comma-separated value or repeat. A config file may hold every key; see docs/configuration.md.\n")
	}
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// flagType names the value a flag takes ("" for a switch).
func flagType(f *flag.Flag) string {
	if t, ok := f.Value.(interface{ TypeName() string }); ok {
		return t.TypeName()
	}
	if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return ""
	}
	name, _ := flag.UnquoteUsage(f)
	return name
}

// flagUsage is a flag's help text, which always states its default.
func flagUsage(f *flag.Flag) string {
	_, u := flag.UnquoteUsage(f)
	if strings.Contains(u, "(default") {
		return u
	}
	d := f.DefValue
	if d == "" {
		d = "none"
	}
	return u + " (default " + d + ")"
}

// parseFlags parses args into c's flags bound to o. --help prints c's
// help on stdout; a flag that another command takes is an error naming
// that command. ok is false when the caller should exit with code.
func (c command) parseFlags(o flagger, args []string, stdout, stderr io.Writer) (fs *flag.FlagSet, fl *configs.Flags, code int, ok bool) {
	fs, fl = c.flagSet(o)
	err := fs.Parse(args)
	if err == nil {
		return fs, fl, 0, true
	}
	if errors.Is(err, flag.ErrHelp) {
		c.help(stdout)
		return fs, fl, exitOK, false
	}
	fmt.Fprintf(stderr, "error: %s\n", flagError(c, err))
	return fs, fl, exitUsage, false
}

// flagError rewords the flag package's parse errors: an unknown flag that
// another command takes names that command.
func flagError(c command, err error) string {
	const undefined = "flag provided but not defined: -"
	msg := err.Error()
	name, isUndefined := strings.CutPrefix(msg, undefined)
	if !isUndefined {
		return strings.Replace(msg, "flag -", "flag --", 1) + fmt.Sprintf(" (see esgate %s --help)", c.name)
	}
	name = strings.TrimPrefix(name, "-")
	var owners []string
	for _, o := range commands() {
		if fs, _ := o.flagSet(o.opts()); o.name != c.name && fs.Lookup(name) != nil {
			owners = append(owners, "esgate "+o.name)
		}
	}
	if len(owners) == 0 {
		return fmt.Sprintf("unknown flag --%s (see esgate %s --help)", name, c.name)
	}
	sort.Strings(owners)
	where := ""
	if g := configs.GroupOf(strings.ReplaceAll(name, "-", "_")); g != "" && slices.Contains(owners, "esgate serve") {
		where = fmt.Sprintf(" (%s)", strings.ToLower(g.Title()))
	}
	verb := "takes"
	if len(owners) > 1 {
		verb = "take"
	}
	return fmt.Sprintf("--%s is not a flag of esgate %s: %s %s it%s", name, c.name, andList(owners), verb, where)
}

// andList joins items as a sentence does: "a", "a and b", "a, b and c".
func andList(items []string) string {
	if len(items) < 2 {
		return strings.Join(items, "")
	}
	return strings.Join(items[:len(items)-1], ", ") + " and " + items[len(items)-1]
}

// topUsage is the usage of esgate itself, from the command list.
func topUsage() string {
	var b strings.Builder
	b.WriteString("esgate: an authenticating TLS sidecar proxy for Elasticsearch clients\n\nUsage:\n")
	for _, c := range commands() {
		left := strings.TrimSpace("esgate " + c.name + " " + c.synopsis)
		fmt.Fprintf(&b, "  %-46s %s\n", left, c.summary)
	}
	b.WriteString("\nEvery config key is also a flag with dashes: api_key is --api-key.\nRun 'esgate COMMAND --help' for the flags a command takes.\n")
	return b.String()
}
