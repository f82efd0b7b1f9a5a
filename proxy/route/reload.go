package route

import (
	"context"
	"errors"
	"fmt"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/auth/frontdoor"
	"github.com/esgate/esgate/auth/policy"
	"github.com/esgate/esgate/auth/token"
	"github.com/esgate/esgate/certs"
	"github.com/esgate/esgate/configs"
	"github.com/esgate/esgate/proxy"
)

// state is what one successful (re)load produced: the configuration and
// everything built from it. It is never changed after it is published; a
// reload builds a complete new one and publishes it with one store.
type state struct {
	cfg *configs.Route
	// digest is of the files last loaded or tried: a file that failed to
	// load is not retried until it changes again.
	digest [32]byte
	// fwd is what each forwarded request reads, once, at its start: hosts,
	// TLS material, credential, policy, the listener's client
	// authentication (see proxy.State).
	fwd *proxy.State
	// cred is the configured credential: fwd's, or with api_key_management
	// the one that mints the forwarded keys (fwd.Own).
	cred auth.Provider
	// configure, if set, puts a reload's secrets into a token provider
	// kept from the previous state; Reload runs it once this state is
	// published, so a failed reload changes nothing.
	configure func()
}

// buildProvider is newProvider; tests replace it.
var buildProvider = newProvider

// build loads everything a state of cfg needs: TLS material, credential,
// the listener's client authentication, policy and hosts. prev (nil at
// New) is the state in force: what the new state keeps of it is its
// host liveness (for the hosts that stay) and its TLS material when the
// files loaded the same (so its pooled connections stay in use).
func (r *Route) build(cfg *configs.Route, prev *state) (*state, error) {
	mat, err := certs.Load(cfg.TLSOptions())
	if err != nil {
		return nil, fmt.Errorf("loading TLS material: %w", err)
	}
	guard, err := frontdoor.New(cfg.ClientAuth(), r.limiter)
	switch {
	case err != nil && prev == nil:
		return nil, err
	case err != nil:
		return nil, fmt.Errorf("loading the listener's TLS and clients: %w", err)
	case cfg.ClientAuth().TLS() != r.built.ClientAuth().TLS():
		return nil, errors.New("TLS on the listener was turned on or off: restart esgate to apply that")
	case r.managed != nil:
		guard.UseManaged(r.managed.GetCertificate)
	}
	cred, configure, err := r.provider(cfg, prev)
	if err != nil {
		return nil, fmt.Errorf("loading credentials: %w", err)
	}
	fwd := &proxy.State{TLS: mat, Credential: cred, Policy: policy.New(cfg.Policy()), Guard: guard,
		RewriteNodesHTTP: cfg.NodesHTTP == "rewrite"}
	if r.minted != nil {
		fwd.Credential, fwd.Own = r.minted, cred
	}
	if prev == nil {
		fwd.Hosts = proxy.NewHostSet(cfg.Upstreams())
	} else {
		fwd.Hosts, _, _ = prev.fwd.Hosts.With(cfg.Upstreams())
		if prev.fwd.TLS.Same(mat) {
			fwd.TLS = prev.fwd.TLS
		}
	}
	return &state{cfg: cfg, digest: filesDigest(cfg.Files()), fwd: fwd, cred: cred, configure: configure}, nil
}

// provider is the credential provider of a new state of cfg. A token
// provider in force (prev's) that serves cfg as well (sameTokenSource)
// is kept, with its token and refresh loop: only the configured secrets
// change, through the state's configure once it is published. Anything
// else is built anew, a token provider with its first token.
func (r *Route) provider(cfg *configs.Route, prev *state) (auth.Provider, func(), error) {
	if prev != nil {
		if tp, ok := prev.cred.(*token.Provider); ok && sameTokenSource(prev.cfg, cfg) {
			configured, err := cfg.CredentialLoader()()
			if err != nil {
				return nil, nil, err
			}
			return tp, func() { tp.SetConfigured(configured) }, nil
		}
	}
	p, err := buildProvider(cfg, r.opts, r.m)
	return p, nil, err
}

// runProvider runs p, if it keeps itself fresh (auth.Runner), under the
// route's run context, and returns what ends that run (nil: nothing to
// end). Before Start nothing runs. The caller holds r.mu.
func (r *Route) runProvider(p auth.Provider) context.CancelFunc {
	rn, ok := p.(auth.Runner)
	if !ok || r.run == nil {
		return nil
	}
	ctx, cancel := context.WithCancel(r.run)
	go rn.Run(ctx)
	return cancel
}

// FilesChanged reports whether a file the route reads changed since it
// was last loaded or tried.
func (r *Route) FilesChanged() bool {
	st := r.current()
	return filesDigest(st.cfg.Files()) != st.digest
}

// ErrReloadFailed wraps the cause of a reload that kept the old state.
var ErrReloadFailed = errors.New("reload failed; the previous configuration and material stay in force")

// Reload brings the route to nr (nil: the configuration in force, with
// its files read again). A complete new state is built first and, only
// when all of it loaded, published with one atomic store: requests that
// started before it finish on the old state, those that start after it
// use the new one, and a failed reload leaves the old state whole. why
// says what triggered it, for the log.
func (r *Route) Reload(nr *configs.Route, why string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cur := r.current()
	if nr != nil {
		if key := identityChanged(r.built, nr); key != "" {
			r.log.Warn(key+" changed: restart esgate to apply it; reloading the route's files only", "route", r.name)
			nr = nil
		}
	}
	if nr == nil {
		nr = cur.cfg
	}
	next, err := r.build(nr, cur)
	if err != nil {
		// The old state stays, remembering the files tried.
		kept := *cur
		kept.digest = filesDigest(nr.Files())
		r.state.Store(&kept)
		r.m.Reload(false)
		r.log.Error("reload failed; keeping the previous configuration and material", "route", r.name, "trigger", why, "err", err)
		return fmt.Errorf("route %q: %w: %w", r.name, ErrReloadFailed, err)
	}
	if next.cred == cur.cred {
		r.state.Store(next)
	} else {
		stop := r.stopCred
		r.stopCred = r.runProvider(next.cred)
		r.state.Store(next)
		if stop != nil {
			// The replaced provider stops refreshing; requests still
			// holding its credential finish with it.
			stop()
		}
	}
	if next.configure != nil {
		next.configure()
	}
	added, removed := r.proxy.Published(cur.fwd, next.fwd)
	r.m.Reload(true)
	r.exportExpiry(next.fwd.TLS)
	r.log.Info("reloaded", "route", r.name, "trigger", why, "auth", nr.AuthKind())
	if len(added)+len(removed) > 0 {
		r.log.Info("hosts changed", "route", r.name, "added", added, "removed", removed)
	}
	if keys := restartNeeded(r.built, nr); len(keys) > 0 {
		r.log.Warn("settings changed that apply only at start: restart esgate to apply them", "route", r.name, "keys", keys)
	}
	next.fwd.TLS.LogExpiry(r.log, r.name, r.opts.ExpiryWarning)
	return nil
}
