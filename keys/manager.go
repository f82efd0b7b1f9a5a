package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/createapikey"
	"github.com/elastic/go-elasticsearch/v8/typedapi/security/invalidateapikey"
	"github.com/elastic/go-elasticsearch/v8/typedapi/types"

	"github.com/esgate/esgate/auth"
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
	// OnMint, if set, is called with each new key's expiration.
	OnMint func(expires time.Time)
	Log    *slog.Logger
}

// Manager mints and renews the API key stored in Target.
type Manager struct {
	es     *elasticsearch.TypedClient // authenticated with the minting credential
	target *auth.Source
	opts   Options

	mu      sync.Mutex // serialises mints
	current key
	renewc  chan struct{}
	wg      sync.WaitGroup
}

type key struct {
	id      string
	header  string // the Authorization value sent with it
	expires time.Time
	minted  time.Time
}

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
	return &Manager{es: es, target: target, opts: opts, renewc: make(chan struct{}, 1)}
}

// Mint creates the first key and stores it; call before serving.
func (m *Manager) Mint(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, err := m.mintLocked(ctx)
	return err
}

// mintLocked creates a key, stores it as the forwarding credential and
// returns the previous key's id.
func (m *Manager) mintLocked(ctx context.Context) (string, error) {
	name := m.opts.Name
	md := types.Metadata{"managed_by": json.RawMessage(`"esgate"`)}
	for k, v := range m.opts.Metadata {
		b, _ := json.Marshal(v)
		md[k] = b
	}
	res, err := m.es.Security.CreateApiKey().Request(&createapikey.Request{Name: &name, Expiration: m.opts.Expiration, Metadata: md}).Do(ctx)
	if err != nil {
		return "", fmt.Errorf("minting API key: %w", describe(err))
	}
	now := time.Now()
	k := key{id: res.Id, minted: now, header: "ApiKey " + res.Encoded}
	if res.Expiration != nil {
		k.expires = time.UnixMilli(*res.Expiration)
	}
	old := m.current.id
	m.current = k
	m.target.Store(auth.APIKey(res.Encoded))
	if m.opts.OnMint != nil {
		m.opts.OnMint(k.expires)
	}
	m.opts.Log.Info("API key minted", "name", name, "id", k.id, "expires", k.expires.UTC().Format(time.RFC3339))
	return old, nil
}

// Expires returns when the current key expires (zero: never).
func (m *Manager) Expires() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.current.expires
}

// Run renews the key before it expires until ctx ends.
func (m *Manager) Run(ctx context.Context) {
	defer func() {
		if r := recover(); r != nil {
			m.opts.Log.Error("API key manager panicked", "panic", r, "stack", string(debug.Stack()))
		}
	}()
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
		m.renew(ctx, "scheduled")
	}
}

// renew mints a new key and invalidates the old one after the delay.
func (m *Manager) renew(ctx context.Context, why string) {
	m.mu.Lock()
	old, err := m.mintLocked(ctx)
	m.mu.Unlock()
	if err != nil {
		m.opts.Log.Error("API key renewal failed; retrying in 5s", "trigger", why, "err", err)
		go func() {
			select {
			case <-time.After(5 * time.Second):
				m.Trigger()
			case <-ctx.Done():
			}
		}()
		return
	}
	if old == "" {
		return
	}
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		select {
		case <-time.After(m.opts.InvalidateDelay):
		case <-ctx.Done():
		}
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if _, err := m.es.Security.InvalidateApiKey().Request(&invalidateapikey.Request{Ids: []string{old}}).Do(ictx); err != nil {
			m.opts.Log.Warn("invalidating the previous API key failed", "id", old, "err", describe(err))
			return
		}
		m.opts.Log.Info("previous API key invalidated", "id", old)
	}()
}

// Trigger asks Run to renew now (it never blocks).
func (m *Manager) Trigger() {
	select {
	case m.renewc <- struct{}{}:
	default:
	}
}

// Recover is called with the body of a 401 answer. If Elasticsearch says
// the key esgate sent is expired, invalidated or unknown, it mints a new
// one at once (once for concurrent callers) and reports true, meaning a
// request that has not sent its body may be retried.
func (m *Manager) Recover(ctx context.Context, sentAuth string, body []byte) bool {
	var e struct {
		Error struct {
			Additional string `json:"additional_unsuccessful_credentials"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	a := e.Error.Additional
	if !strings.HasPrefix(a, "API key:") || !(strings.Contains(a, "expired") || strings.Contains(a, "invalidated") || strings.Contains(a, "unable to find apikey")) {
		return false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.current.header != sentAuth {
		return true // another request already replaced it
	}
	m.opts.Log.Warn("Elasticsearch refused the managed API key; minting a new one", "reason", a)
	if _, err := m.mintLocked(ctx); err != nil {
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
