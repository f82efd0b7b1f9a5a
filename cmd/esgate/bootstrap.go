package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/bootstrap"
	"github.com/esgate/esgate/auth/esclient"
	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/configs/keystore"
)

// Bootstrap exit codes, as documented: 0 done, 1 failed, 2 verification
// found missing privileges.
const exitMissingPrivileges = 2

// bootstrapFlags are bootstrap's own flags, on top of the connection keys.
type bootstrapFlags struct {
	opts        bootstrap.Options
	only        string
	secrets     string
	showSecrets bool
	output      string
	keystore    string // the keystore to also write secrets to ("" none)
	modes       string // --logstash-output
	jwt         jwtFlags
}

func (bf *bootstrapFlags) flags(fs *flag.FlagSet) {
	host, _ := os.Hostname()
	fs.StringVar(&bf.opts.Output.IndexPattern, "index-pattern", "logstash-*", "with --logstash-output index: the indices Logstash's index setting writes")
	fs.StringVar(&bf.modes, "logstash-output", "", "narrow the writer role and publish key to what these Logstash output modes need, comma-separated: data_stream (the default output of Logstash 8 and 9), index (index => \"logstash-%{+YYYY.MM.dd}\"), ilm (ilm_enabled => true, or auto with data_stream => false) (default: the Logstash security guide's privileges plus every mode, with and without ECS)")
	fs.BoolVar(&bf.opts.Output.ECSDisabled, "ecs-disabled", false, "with --logstash-output ilm: ecs_compatibility => disabled (alias logstash, not ecs-logstash)")
	fs.StringVar(&bf.opts.WriterRole, "writer-role", "logstash_writer", "name of the writer role")
	fs.StringVar(&bf.opts.ReaderRole, "reader-role", "logstash_reader", "name of the reader role")
	fs.StringVar(&bf.only, "only", "", "comma-separated pieces to provision: roles, users, keys, keys:publish, keys:read, keys:monitoring, keys:management, role_mapping (default all; with --jwt-realm: roles,role_mapping)")
	fs.StringVar(&bf.opts.Hostname, "hostname", host, "host name in API key names (esgate-<purpose>-<hostname>) (default: this host's name)")
	fs.StringVar(&bf.opts.Expiration, "expiration", "", "lifetime of new API keys in ES units, e.g. 30d (default: no expiry)")
	fs.BoolVar(&bf.opts.Rotate, "rotate", false, "replace existing API keys: create, record, then invalidate the old ones")
	fs.BoolVar(&bf.opts.ResetPasswords, "reset-passwords", false, "set new passwords on users that already exist")
	fs.BoolVar(&bf.opts.DryRun, "dry-run", false, "print the plan; write nothing")
	fs.StringVar(&bf.secrets, "secrets-file", "esgate.secrets", "where minted secrets are written (mode 0600); esgate serve reads it with --config")
	fs.BoolVar(&bf.showSecrets, "show-secrets", false, "also print minted passwords and API keys")
	fs.StringVar(&bf.output, "output", "text", "text or json (json holds no secrets)")
	bf.jwt.flags(fs)
}

func bootstrapCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	bf := &bootstrapFlags{}
	return withConfigFlags("bootstrap", args, stdout, stderr, bf, exitFailed, func(cfg *configs.Config, log *slog.Logger, rl *reloader) error {
		if bf.only != "" {
			for _, p := range strings.Split(bf.only, ",") {
				bf.opts.Only = append(bf.opts.Only, strings.TrimSpace(p))
			}
		}
		if err := bootstrap.ValidateOnly(bf.opts.Only); err != nil {
			return fmt.Errorf("--only: %w", err)
		}
		jwt, err := bf.jwt.options()
		if err != nil {
			return err
		}
		bf.opts.JWT = jwt
		if err := bootstrap.ParseModes(bf.modes, &bf.opts.Output); err != nil {
			return fmt.Errorf("--logstash-output: %w", err)
		}
		if bf.output != "text" && bf.output != "json" {
			return fmt.Errorf("--output: want text or json, got %q", bf.output)
		}
		if len(cfg.Routes) != 1 {
			return errors.New("bootstrap works on one cluster: give hosts (or cloud_id) and admin credentials, not routes")
		}
		if ks := rlKeystore(rl); ks != "" {
			bf.keystore = ks
		}
		return runBootstrap(ctx, &cfg.Routes[0], bf, stdout)
	})
}

func runBootstrap(ctx context.Context, rc *configs.Route, bf *bootstrapFlags, out io.Writer) error {
	rt, err := buildRoute(rc)
	if err != nil {
		return err
	}
	defer rt.Close()
	base := rt.Proxy().Transport()
	admin, err := esclient.New(rt.OwnTransport())
	if err != nil {
		return err
	}
	secrets, err := bootstrap.ReadSecrets(bf.secrets)
	if err != nil {
		return err
	}
	conn := bootstrap.Connection{Hosts: rc.Hosts, CloudID: rc.CloudID, SSLCertificateAuthorities: rc.SSLCertificateAuthorities,
		CATrustedFingerprint: strings.Join(rc.CATrustedFingerprint, ","), SSLVerificationMode: rc.SSLVerificationMode}
	saved := false
	r := &bootstrap.Runner{
		ES:   admin,
		Opts: bf.opts,
		ClientFor: func(header string) (*elasticsearch.TypedClient, error) {
			return esclient.New(auth.Transport(base, auth.Raw("verify", header)))
		},
		Secrets: secrets,
		Save: func(s *bootstrap.Secrets) error {
			saved = true
			if err := bootstrap.WriteSecrets(bf.secrets, s, conn, time.Now()); err != nil {
				return err
			}
			return saveToKeystore(bf.keystore, s)
		},
	}
	rep, err := r.Run(ctx)
	if saved {
		rep.SecretsFile = bf.secrets
	}
	if bf.output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		enc.Encode(rep)
	} else {
		printReport(out, rep, secrets, bf.showSecrets)
	}
	if err != nil {
		return err
	}
	if rep.Missing() {
		return &exitCodeError{code: exitMissingPrivileges, err: errors.New("verification found missing privileges (see above)")}
	}
	return nil
}

func printReport(out io.Writer, rep *bootstrap.Report, s *bootstrap.Secrets, show bool) {
	if rep.DryRun {
		fmt.Fprintln(out, "Plan (dry run: nothing is written):")
	}
	for _, a := range rep.Actions {
		line := fmt.Sprintf("  %-8s %-34s %-9s", a.Kind, a.Name, a.Op)
		if a.Detail != "" {
			line += " " + a.Detail
		}
		fmt.Fprintln(out, strings.TrimRight(line, " "))
	}
	if len(rep.Verification) > 0 {
		fmt.Fprintln(out, "Verification:")
	}
	for _, c := range rep.Verification {
		switch {
		case c.Error != "":
			fmt.Fprintf(out, "  %-28s FAILED: %s\n", c.Credential, c.Error)
		case len(c.Missing) == 0:
			fmt.Fprintf(out, "  %-28s ok (%s)\n", c.Credential, c.Principal)
		default:
			fmt.Fprintf(out, "  %-28s MISSING privileges (%s):\n", c.Credential, c.Principal)
			for _, m := range c.Missing {
				on := "cluster"
				if m.On != "" {
					on = "on " + m.On
				}
				fmt.Fprintf(out, "    %s %s: blocks %s\n", m.Privilege, on, m.Blocks)
			}
		}
	}
	if rep.RealmConfig != "" {
		fmt.Fprintf(out, "JWT realm (realms live in elasticsearch.yml and the keystore, not behind an API):\n%s", rep.RealmConfig)
	}
	if rep.SecretsFile != "" {
		fmt.Fprintf(out, "Secrets written to %s (mode 0600). Serve with: esgate serve --config %s\n", rep.SecretsFile, rep.SecretsFile)
	}
	if show {
		fmt.Fprintln(out, "Secrets:")
		for u, pw := range s.Passwords {
			fmt.Fprintf(out, "  user %s password %s\n", u, pw)
		}
		for p, k := range s.APIKeys {
			fmt.Fprintf(out, "  api_key %s (id %s): %s\n", p, k.ID, k.Encoded)
		}
	}
}

// rlKeystore returns the keystore in use (explicit or default), if it exists.
func rlKeystore(rl *reloader) string {
	ks := rl.fl.Keystore
	if ks == "" {
		ks = defaultKeystore(rl.fl.ConfigFile)
	}
	if keystore.Exists(ks) {
		return ks
	}
	return ""
}

// saveToKeystore also records minted secrets in the keystore, as
// <PURPOSE>_API_KEY and <USER>_PASSWORD, for ${NAME} references.
func saveToKeystore(path string, s *bootstrap.Secrets) error {
	if path == "" {
		return nil
	}
	ks, err := keystore.Open(path, []byte(os.Getenv(keystorePassEnv)))
	if err != nil {
		return err
	}
	for p, k := range s.APIKeys {
		ks.Set(strings.ToUpper(p)+"_API_KEY", k.Encoded)
	}
	for u, pw := range s.Passwords {
		ks.Set(strings.ToUpper(u)+"_PASSWORD", pw)
	}
	return ks.Save()
}
