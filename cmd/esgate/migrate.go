package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/configs/keystore"
	"github.com/esgate/esgate/configs/logstash"
)

// migrateDetail describes migrate, for its help.
const migrateDetail = `Reads Logstash pipeline files (or directories of *.conf), makes one esgate
route per distinct Elasticsearch connection of their elasticsearch plugins,
writes the esgate config, and rewrites each plugin to send plain HTTP to its
route on 127.0.0.1 with the connection and security settings removed: shown
as a diff, or written in place with a backup.
`

// migrateFlags are migrate's flags.
type migrateFlags struct {
	out       string
	force     bool
	inPlace   bool
	firstPort int
	ksPath    string
}

func (mf *migrateFlags) flags(fs *flag.FlagSet) {
	fs.StringVar(&mf.out, "config-out", "esgate.yml", "where to write the esgate config (mode 0600: it may hold secrets)")
	fs.BoolVar(&mf.force, "force", false, "overwrite --config-out if it exists")
	fs.BoolVar(&mf.inPlace, "in-place", false, "rewrite the pipeline files, keeping each as FILE.bak (default: print a diff)")
	fs.IntVar(&mf.firstPort, "first-port", 9200, "listen port of the first route; the next ones follow, skipping 9201 (the status listener)")
	fs.StringVar(&mf.ksPath, "keystore", "", "move secrets written in the pipelines into this esgate keystore (created if missing; password from ESGATE_KEYSTORE_PASS, none for an unprotected one) and write ${NAME} references (default none: secrets are copied into the config, with a warning)")
}

func migrateCmd(_ context.Context, args []string, stdout, stderr io.Writer) int {
	mf := &migrateFlags{}
	c := lookupCommand("migrate")
	fs, _, code, ok := c.parseFlags(mf, args, stdout, stderr)
	if !ok {
		return code
	}
	out, force, inPlace, firstPort, ksPath := &mf.out, &mf.force, &mf.inPlace, &mf.firstPort, &mf.ksPath
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "error: name at least one pipeline file or directory (see esgate migrate --help)")
		return exitUsage
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "error: %s\n", err)
		return code
	}
	var files []logstash.File
	for _, a := range fs.Args() {
		names := []string{a}
		if fi, err := os.Stat(a); err == nil && fi.IsDir() {
			names, _ = filepath.Glob(filepath.Join(a, "*.conf"))
			sort.Strings(names)
			if len(names) == 0 {
				return fail(exitUsage, fmt.Errorf("%s: no *.conf files", a))
			}
		}
		for _, n := range names {
			b, err := os.ReadFile(n)
			if err != nil {
				return fail(exitUsage, err)
			}
			files = append(files, logstash.File{Name: n, Src: string(b)})
		}
	}
	opts := logstash.Options{FirstPort: *firstPort}
	var ks *keystore.Store
	if *ksPath != "" {
		pw := []byte(os.Getenv(keystorePassEnv))
		var err error
		if keystore.Exists(*ksPath) {
			ks, err = keystore.Open(*ksPath, pw)
		} else {
			ks, err = keystore.Create(*ksPath, pw)
		}
		if err != nil {
			return fail(exitFailed, fmt.Errorf("--keystore: %w", err))
		}
		opts.MoveSecret = func(name, value string) error {
			if v, ok := ks.Get(name); ok && v != value {
				return fmt.Errorf("the keystore already holds a different %s", name)
			}
			return ks.Set(name, value)
		}
	}
	res, err := logstash.Migrate(files, opts)
	if err != nil {
		return fail(exitFailed, err)
	}
	if ks != nil {
		if err := ks.Save(); err != nil {
			return fail(exitFailed, fmt.Errorf("--keystore: %w", err))
		}
	}
	y, err := res.ConfigYAML()
	if err != nil {
		return fail(exitFailed, err)
	}
	if _, err := os.Stat(*out); err == nil && !*force {
		return fail(exitUsage, fmt.Errorf("--config-out %s exists: choose another file or add --force", *out))
	}
	if err := os.WriteFile(*out, y, 0o600); err != nil {
		return fail(exitFailed, err)
	}
	// What was written must load as an esgate config (keys, values).
	cfs := flag.NewFlagSet("check", flag.ContinueOnError)
	fl := configs.RegisterFlags(cfs)
	cfs.Parse([]string{"--config", *out})
	if _, err := configs.Load(fl, func(string) (string, bool) { return "x", true }); err != nil { // references resolve at serve
		return fail(exitFailed, fmt.Errorf("the config written to %s does not load: %w", *out, err))
	}
	for _, w := range res.Warnings {
		fmt.Fprintf(stderr, "warning: %s\n", w)
	}
	names := make([]string, 0, len(res.Rewrites))
	for n := range res.Rewrites {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var old string
		for _, f := range files {
			if f.Name == n {
				old = f.Src
			}
		}
		if !*inPlace {
			fmt.Fprint(stdout, unifiedDiff(n, old, res.Rewrites[n]))
			continue
		}
		bak := n + ".bak"
		if _, err := os.Stat(bak); err == nil {
			return fail(exitFailed, fmt.Errorf("%s exists: move it away before rewriting %s", bak, n))
		}
		if err := os.WriteFile(bak, []byte(old), 0o600); err != nil {
			return fail(exitFailed, err)
		}
		if err := os.WriteFile(n, []byte(res.Rewrites[n]), 0o644); err != nil {
			return fail(exitFailed, err)
		}
		fmt.Fprintf(stderr, "rewrote %s (backup %s)\n", n, bak)
	}
	fmt.Fprintf(stderr, "wrote %s: %d route(s); check it with: esgate check --config %s\n", *out, len(res.Routes), *out)
	return exitOK
}

// unifiedDiff renders the line changes from a to b with three lines of
// context, as diff -u does.
func unifiedDiff(name, a, b string) string {
	lines := func(s string) []string {
		l := strings.SplitAfter(s, "\n")
		if len(l) > 0 && l[len(l)-1] == "" {
			l = l[:len(l)-1]
		}
		return l
	}
	x, y := lines(a), lines(b)
	// LCS table.
	n, m := len(x), len(y)
	l := make([][]int, n+1)
	for i := range l {
		l[i] = make([]int, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			if x[i] == y[j] {
				l[i][j] = l[i+1][j+1] + 1
			} else {
				l[i][j] = max(l[i+1][j], l[i][j+1])
			}
		}
	}
	type op struct {
		kind byte // ' ', '-', '+'
		line string
		ai   int
		bi   int
	}
	var ops []op
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i < n && j < m && x[i] == y[j]:
			ops = append(ops, op{' ', x[i], i, j})
			i, j = i+1, j+1
		case i < n && (j == m || l[i+1][j] >= l[i][j+1]):
			ops = append(ops, op{'-', x[i], i, j})
			i++
		default:
			ops = append(ops, op{'+', y[j], i, j})
			j++
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s (esgate migrate)\n", name, name)
	const ctx = 3
	for k := 0; k < len(ops); {
		if ops[k].kind == ' ' {
			k++
			continue
		}
		start := max(k-ctx, 0)
		end := k
		for end < len(ops) {
			if ops[end].kind != ' ' {
				end++
				continue
			}
			run := end
			for run < len(ops) && ops[run].kind == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(ops) {
				end = min(end+ctx, len(ops))
				break
			}
			end = run
		}
		na, nb := 0, 0
		for _, o := range ops[start:end] {
			if o.kind != '+' {
				na++
			}
			if o.kind != '-' {
				nb++
			}
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", ops[start].ai+1, na, ops[start].bi+1, nb)
		for _, o := range ops[start:end] {
			line := o.line
			if !strings.HasSuffix(line, "\n") {
				line += "\n\\ No newline at end of file\n"
			}
			out.WriteString(string(o.kind) + line)
		}
		k = end
	}
	return out.String()
}
