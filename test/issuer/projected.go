package issuer

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// ProjectedOptions shape a Kubernetes projected service-account token
// volume. Zero values take the documented defaults.
type ProjectedOptions struct {
	// Dir is the volume's mount directory (required); the token is at
	// Dir/token.
	Dir string
	// Issuer is the iss claim (default the Server's Issuer, so that its
	// /.well-known/openid-configuration and /openid/v1/jwks serve the key,
	// as a cluster's service-account issuer discovery does).
	Issuer string
	// Audiences is the aud array (default ["elasticsearch"]).
	Audiences []string
	// Namespace and ServiceAccount make the sub
	// system:serviceaccount:<ns>:<name> (defaults "logs", "shipper").
	Namespace, ServiceAccount string
	// Pod is the pod name in the kubernetes.io claim (default
	// "<ServiceAccount>-0").
	Pod string
	// Lifetime is expirationSeconds (default 600 s, Kubernetes' minimum;
	// shorter lifetimes are allowed here for tests).
	Lifetime time.Duration
	// Every rotates on a schedule, as the kubelet does at 80 % of the TTL
	// (default 0: only Rotate rotates).
	Every time.Duration
}

// Projected writes service-account tokens into a directory the way the
// kubelet's atomic writer does: Dir/token -> ..data/token, and ..data ->
// ..<timestamp>, a fresh directory per token, swapped by an atomic rename
// of a new symlink over ..data; the old directory is then removed.
type Projected struct {
	srv  *Server
	opts ProjectedOptions
	uid  [2]string

	mu        sync.Mutex // one write at a time
	rotations atomic.Int64
	stop      chan struct{}
	done      chan struct{}
	once      sync.Once
}

// Project writes the first token into opts.Dir and, when opts.Every is
// set, rotates it on that schedule until Stop.
func (s *Server) Project(opts ProjectedOptions) (*Projected, error) {
	if opts.Dir == "" {
		return nil, errors.New("issuer: ProjectedOptions.Dir is required")
	}
	if opts.Issuer == "" {
		opts.Issuer = s.opts.Issuer
	}
	if len(opts.Audiences) == 0 {
		opts.Audiences = []string{"elasticsearch"}
	}
	if opts.Namespace == "" {
		opts.Namespace = "logs"
	}
	if opts.ServiceAccount == "" {
		opts.ServiceAccount = "shipper"
	}
	if opts.Pod == "" {
		opts.Pod = opts.ServiceAccount + "-0"
	}
	if opts.Lifetime <= 0 {
		opts.Lifetime = 600 * time.Second
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, err
	}
	p := &Projected{srv: s, opts: opts, uid: [2]string{uuid(), uuid()}, stop: make(chan struct{}), done: make(chan struct{})}
	if err := p.Rotate(); err != nil {
		return nil, err
	}
	if opts.Every > 0 {
		go p.loop()
	} else {
		close(p.done)
	}
	return p, nil
}

func uuid() string {
	h := randomHex(16)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// TokenPath is Dir/token, the path a pod reads.
func (p *Projected) TokenPath() string { return filepath.Join(p.opts.Dir, "token") }

// Subject is system:serviceaccount:<ns>:<name>.
func (p *Projected) Subject() string {
	return "system:serviceaccount:" + p.opts.Namespace + ":" + p.opts.ServiceAccount
}

// Rotations counts the tokens written.
func (p *Projected) Rotations() int64 { return p.rotations.Load() }

// Stop ends scheduled rotation and waits for it; the last token stays.
func (p *Projected) Stop() {
	p.once.Do(func() { close(p.stop) })
	<-p.done
}

func (p *Projected) loop() {
	defer close(p.done)
	t := time.NewTicker(p.opts.Every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.Rotate() // a failed write keeps the old token, as the kubelet does
		}
	}
}

// Token builds a token now without writing it.
func (p *Projected) Token() (string, error) {
	now := p.srv.opts.Now()
	exp := now.Add(p.opts.Lifetime)
	claims := map[string]any{
		"aud": p.opts.Audiences,
		"exp": exp.Unix(),
		"iat": now.Unix(),
		"iss": p.opts.Issuer,
		"jti": uuid(),
		"kubernetes.io": map[string]any{
			"namespace":      p.opts.Namespace,
			"pod":            map[string]any{"name": p.opts.Pod, "uid": p.uid[0]},
			"serviceaccount": map[string]any{"name": p.opts.ServiceAccount, "uid": p.uid[1]},
		},
		"nbf": now.Unix(),
		"sub": p.Subject(),
	}
	key, kid := p.srv.SigningKey()
	return Sign(map[string]any{"alg": "RS256", "kid": kid}, claims, key)
}

// Rotate writes a new token now, as the kubelet's atomic writer does.
func (p *Projected) Rotate() error {
	tok, err := p.Token()
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err := atomicWrite(p.opts.Dir, "token", []byte(tok)); err != nil {
		return fmt.Errorf("issuer: writing projected token: %w", err)
	}
	p.rotations.Add(1)
	p.srv.mu.Lock()
	p.srv.issued[p.Subject()]++
	p.srv.mu.Unlock()
	return nil
}

// atomicWrite follows kubernetes pkg/volume/util/atomic_writer.go: write
// the payload into a new ..<timestamp> directory, point a ..data_tmp
// symlink at it, rename that over ..data, create the user-visible
// name -> ..data/name symlink once, and remove the previous directory.
func atomicWrite(dir, name string, data []byte) error {
	const dataLink, tmpLink = "..data", "..data_tmp"
	old, _ := os.Readlink(filepath.Join(dir, dataLink))
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(ts, name), data, 0o644); err != nil {
		os.RemoveAll(ts)
		return err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return err
	}
	tmp := filepath.Join(dir, tmpLink)
	os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		os.RemoveAll(ts)
		return err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		os.RemoveAll(ts)
		return err
	}
	user := filepath.Join(dir, name)
	if _, err := os.Lstat(user); os.IsNotExist(err) {
		if err := os.Symlink(filepath.Join(dataLink, name), user); err != nil {
			return err
		}
	}
	if old != "" && old != filepath.Base(ts) {
		os.RemoveAll(filepath.Join(dir, old))
	}
	return nil
}
