package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/configs/keystore"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, topUsage())
		return exitUsage
	}
	name := args[0]
	switch name {
	case "--version", "-version":
		name = "version"
	case "help", "-h", "--help":
		fmt.Fprint(stdout, topUsage())
		return exitOK
	}
	var names []string
	for _, c := range commands() {
		if c.name == name {
			return c.run(invocation{ctx: ctx, args: args[1:], stdin: os.Stdin, stdout: stdout, stderr: stderr})
		}
		names = append(names, c.name)
	}
	hint := ""
	if near := configs.Nearest(name, names); near != "" {
		hint = fmt.Sprintf(" (did you mean %s?)", near)
	}
	fmt.Fprintf(stderr, "error: unknown command %q%s\n\n%s", name, hint, topUsage())
	return exitUsage
}

// serveCmd runs esgate serve.
func serveCmd(in invocation) int {
	return withConfig("serve", in.args, in.stdout, in.stderr, func(cfg *configs.Config, log *slog.Logger, rl *reloader) error {
		return serve(in.ctx, cfg, log, nil, rl)
	})
}

// withConfig parses flags and the config file, validates, sets up logging
// and calls f. Errors are printed once, here.
func withConfig(name string, args []string, stdout, stderr io.Writer, f func(*configs.Config, *slog.Logger, *reloader) error) int {
	return withConfigFlags(name, args, stdout, stderr, noFlags{}, exitUsage, f)
}

// exitCodeError lets f choose the exit code.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }

// withConfigFlags is withConfig with the command's own flags, bound to o,
// and the exit code used for configuration errors.
func withConfigFlags(name string, args []string, stdout, stderr io.Writer, o flagger, configExit int, f func(*configs.Config, *slog.Logger, *reloader) error) int {
	fs, fl, code, ok := lookupCommand(name).parseFlags(o, args, stdout, stderr)
	if !ok {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "error: unexpected arguments: %s\n", strings.Join(fs.Args(), " "))
		return exitUsage
	}
	rl := &reloader{fl: fl}
	cfg, err := rl.load()
	if err != nil {
		fmt.Fprintf(stderr, "error: %s\n", err)
		return configExit
	}
	log := newLogger(cfg, stderr)
	var lb *logBuffer
	if name == "serve" {
		// serve logs a line per request: buffered, warnings at once.
		lb = newLogBuffer(stderr, logFlushInterval, 64<<10)
		log = slog.New(flushHandler{Handler: newLogger(cfg, lb).Handler(), b: lb, stock: &stockHandler{json: cfg.LogFormat == "json"}})
		defer lb.Close() // also if f panics
	}
	err = f(cfg, log, rl)
	if lb != nil {
		lb.Close() // before the error below, and the exit
	}
	if err != nil {
		var ce *exitCodeError
		if errors.As(err, &ce) {
			if ce.err != nil {
				fmt.Fprintf(stderr, "error: %s\n", ce.err)
			}
			return ce.code
		}
		fmt.Fprintf(stderr, "error: %s\n", err)
		return exitFailed
	}
	return exitOK
}

// logFlushInterval is how long serve's info lines may wait in the log
// buffer.
const logFlushInterval = 100 * time.Millisecond

func newLogger(cfg *configs.Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// reloader re-reads the configuration (file, keystore, flags) on demand.
type reloader struct{ fl *configs.Flags }

// load reads and validates the configuration.
func (r *reloader) load() (*configs.Config, error) {
	lookup, err := secretLookup(r.fl)
	if err != nil {
		return nil, err
	}
	cfg, err := configs.Load(r.fl, lookup)
	if err == nil {
		err = cfg.Validate()
	}
	return cfg, err
}

// files are the config file and the keystore, whose changes trigger a
// configuration reload.
func (r *reloader) files() []string {
	var out []string
	if r.fl.ConfigFile != "" {
		out = append(out, r.fl.ConfigFile)
	}
	ks := r.fl.Keystore
	if ks == "" {
		ks = defaultKeystore(r.fl.ConfigFile)
	}
	if keystore.Exists(ks) {
		out = append(out, ks)
	}
	return out
}
