package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/createapikey"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/invalidateapikey"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types"

	"github.com/esgate/esgate/auth"
	"github.com/esgate/esgate/proxy/esproto"
)

// Options configure a Manager. Zero values take the documented defaults.
type Options struct {
	// Name of the minted keys (default "esgate-managed").
	Name string
	// Expiration of each key, in ES time units (default "1d").
	Expiration string
	// RenewAfter is the fraction of a key's lifetime after which it is
	// renewed (default 0.5).
	RenewAfter float64
	// InvalidateDelay is how long an old key stays valid after the switch,
	// so that requests already sent with it finish (default 60s).
	InvalidateDelay time.Duration
	// Metadata is added to each key.
	Metadata map[string]string
	// OnMint, if set, is called with each new key's expiration and why it
	// was minted (start, scheduled, refused key).
	OnMint func(expires time.Time, trigger string)
	// OnInvalidate, if set, is called for each replaced key invalidated.
	OnInvalidate func()
	Log          *slog.Logger
}

// Manager mints and renews the API key stored in Target.
//
// No lock is held across a call to Elasticsearch: one mint runs at a time
// (others wait for its outcome, single-flight), and mu guards only the
// key in force.
type Manager struct {
	es     *elasticsearch.TypedClient // authenticated with the minting credential
	target *auth.Source
	opts   Options

	mu      sync.Mutex
	current key
	flight  *mintCall // the mint under way, if any
	renewc  chan struct{}
	wg      sync.WaitGroup
	ctx     context.Context // Run's; ends the delayed invalidations
}

// mintCall is one mint that concurrent callers share.
type mintCall struct {
	done chan struct{}
	err  error
}

type key struct {
	trigger string // why it was minted: start, scheduled, refused key
	id      string
	header  string // the Authorization value sent with it
	expires time.Time
	minted  time.Time
}

// MinRemintInterval is the least time between two mints that refused
// keys trigger: a key minted because its predecessor was refused, and
// refused in turn right away, points at a problem a new key does not fix
// (a realm, a clock, a policy revoking keys), and each mint is a key in
// the cluster.
var MinRemintInterval = 10 * time.Second

// New returns a Manager that mints with es and stores keys in target.
func New(es *elasticsearch.TypedClient, target *auth.Source, opts Options) *Manager {
	if opts.Name == "" {
		opts.Name = "esgate-managed"
	}
	if opts.Expiration == "" {
		opts.Expiration = "1d"
	}
	if opts.RenewAfter <= 0 || opts.RenewAfter >= 1 {
		opts.RenewAfter = 0.5
	}
	if opts.InvalidateDelay <= 0 {
		opts.InvalidateDelay = 60 * time.Second
	}
	if opts.Log == nil {
		opts.Log = slog.Default()
	}
	return &Manager{es: es, target: target, opts: opts, renewc: make(chan struct{}, 1), ctx: context.Background()}
}

// Mint creates the first key and stores it; call before serving.
func (m *Manager) Mint(ctx context.Context) error {
	return m.mint(ctx, "start", "")
}

// mint creates a key and makes it the forwarding credential; the key it
// replaces is invalidated after InvalidateDelay. A mint already under way
// is waited for instead of starting another. With refused set, the mint
// replaces that key only: if another mint already did, there is nothing
// to do (the check and the start of the mint are one step under mu).
func (m *Manager) mint(ctx context.Context, why, refused string) error {
	m.mu.Lock()
	if refused != "" && m.flight == nil && m.current.header != refused {
		m.mu.Unlock()
		return nil
	}
	if c := m.flight; c != nil {
		m.mu.Unlock()
		select {
		case <-c.done:
			return c.err
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	c := &mintCall{done: make(chan struct{})}
	m.flight = c
	m.mu.Unlock()

	k, err := m.create(ctx)
	k.trigger = why

	m.mu.Lock()
	old := m.current
	if err == nil {
		m.current = k
		m.target.Store(auth.Raw("api_key", k.header))
	}
	m.flight = nil
	m.mu.Unlock()
	c.err = err
	close(c.done)
	if err != nil {
		return err
	}
	if m.opts.OnMint != nil {
		m.opts.OnMint(k.expires, why)
	}
	m.opts.Log.Info("API key minted", "name", m.opts.Name, "id", k.id, "trigger", why, "expires", k.expires.UTC().Format(time.RFC3339))
	if old.id != "" {
		m.invalidateLater(old.id)
	}
	return nil
}

// create asks Elasticsearch for a new key (no lock held).
func (m *Manager) create(ctx context.Context) (key, error) {
	name := m.opts.Name
	md := types.Metadata{"managed_by": json.RawMessage(`"esgate"`)}
	for k, v := range m.opts.Metadata {
		b, _ := json.Marshal(v)
		md[k] = b
	}
	res, err := m.es.Security.CreateApiKey().Request(&createapikey.Request{Name: &name, Expiration: m.opts.Expiration, Metadata: md}).Do(ctx)
	if err != nil {
		return key{}, fmt.Errorf("minting API key: %w", describe(err))
	}
	k := key{id: res.Id, minted: time.Now(), header: "ApiKey " + res.Encoded}
	if res.Expiration != nil {
		k.expires = time.UnixMilli(*res.Expiration)
	}
	return k, nil
}

// Expires returns when the current key expires (zero: never).
func (m *Manager) Expires() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current.expires
}

// Run renews the key before it expires until ctx ends, then waits for the
// invalidations it scheduled (they are cut short).
func (m *Manager) Run(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			m.opts.Log.Error("API key manager panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
	m.mu.Lock()
	m.ctx = ctx
	m.mu.Unlock()
	for {
		m.mu.Lock()
		k := m.current
		m.mu.Unlock()
		wait := time.Hour
		if !k.expires.IsZero() {
			wait = time.Duration(float64(k.expires.Sub(k.minted)) * m.opts.RenewAfter)
			wait -= time.Since(k.minted)
		}
		t := time.NewTimer(max(wait, 0))
		select {
		case <-ctx.Done():
			t.Stop()
			m.wg.Wait()
			return
		case <-t.C:
		case <-m.renewc:
			t.Stop()
		}
		if err := m.mint(ctx, "scheduled", ""); err != nil {
			m.opts.Log.Error("API key renewal failed; retrying in 5s", "err", err)
			select {
			case <-time.After(5 * time.Second):
			case <-ctx.Done():
			}
			m.Trigger()
		}
	}
}

// invalidateLater invalidates the key id after InvalidateDelay, so that
// requests already sent with it can finish.
func (m *Manager) invalidateLater(id string) {
	m.mu.Lock()
	ctx := m.ctx
	m.mu.Unlock()
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		select {
		case <-time.After(m.opts.InvalidateDelay):
		case <-ctx.Done():
		}
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := m.es.Security.InvalidateApiKey().Request(&invalidateapikey.Request{Ids: []string{id}}).Do(ictx); err != nil {
			m.opts.Log.Warn("invalidating the previous API key failed", "id", id, "err", describe(err))
			return
		}
		m.opts.Log.Info("previous API key invalidated", "id", id)
		if m.opts.OnInvalidate != nil {
			m.opts.OnInvalidate()
		}
	}()
}

// Trigger asks Run to renew now (it never blocks).
func (m *Manager) Trigger() {
	select {
	case m.renewc <- struct{}{}:
	default:
	}
}

// Recover is called with the Authorization a request sent and the body
// of the 401 it got. It reports whether a request that has not sent a
// body may be retried with the credential now in force:
//   - the 401 is not about an API key being expired, invalidated or
//     unknown (esproto.KeyRefused): false;
//   - the refused key is no longer the current one (another request
//     already replaced it): true;
//   - it is the current one: a new key is minted, once for all concurrent
//     callers, unless the current key was itself minted for a refusal
//     less than MinRemintInterval ago (then false: a new key would be
//     refused as well).
func (m *Manager) Recover(ctx context.Context, sentAuth string, body []byte) bool {
	reason, refused := esproto.KeyRefused(body)
	if !refused {
		return false
	}
	m.mu.Lock()
	cur := m.current
	inFlight := m.flight != nil
	m.mu.Unlock()
	if cur.header != sentAuth {
		return !inFlight || m.mint(ctx, "refused key", sentAuth) == nil
	}
	if cur.trigger == "refused key" && time.Since(cur.minted) < MinRemintInterval {
		m.opts.Log.Warn("Elasticsearch refused the managed API key minted for a refusal; not minting another", "reason", reason, "min_interval", MinRemintInterval.String())
		return false
	}
	m.opts.Log.Warn("Elasticsearch refused the managed API key; minting a new one", "reason", reason)
	if err := m.mint(ctx, "refused key", sentAuth); err != nil {
		m.opts.Log.Error("re-minting the API key failed", "err", err)
		return false
	}
	return true
}

// CurrentID is the id of the key in force.
func (m *Manager) CurrentID() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current.id
}

func describe(err error) error {
	var e *types.ElasticsearchError
	if errors.As(err, &e) && e.ErrorCause.Reason != nil {
		return fmt.Errorf("%d %s: %s", e.Status, e.ErrorCause.Type, *e.ErrorCause.Reason)
	}
	return err
}
