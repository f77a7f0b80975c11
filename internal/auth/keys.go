// Package auth holds API keys and their scopes (and, with the web UI,
// people, roles and sessions).
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/moments-cs/moments/internal/store"
)

// Scopes of API keys.
const (
	// ScopeWrite may only send data to the tracking API (/v1).
	ScopeWrite = "write"
	// ScopeAdmin may use the REST API (/api/v1).
	ScopeAdmin = "admin"
)

// ErrInvalidKey means the key is unknown, revoked or malformed.
var ErrInvalidKey = errors.New("invalid or revoked API key")

// keyPrefix makes a leaked key recognisable by secret scanners and says
// its scope at a glance.
var keyPrefix = map[string]string{ScopeWrite: "mkw_", ScopeAdmin: "mka_"}

// serverKeyPrefix marks a server write key, which may set the traits that
// steer email and rights and so must never be put in a browser.
const serverKeyPrefix = "mks_"

const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	for i := range b {
		// 256 is not a multiple of 62; the bias this leaves (under 2%
		// for a few letters) costs a fraction of a bit of the key's
		// 190 bits.
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// HashKey is the stored form of a key. Keys are 190 random bits, so a fast
// hash is safe: there is nothing to brute-force.
func HashKey(secret string) []byte {
	h := sha256.Sum256([]byte(secret))
	return h[:]
}

// Keys issues and checks API keys.
type Keys struct {
	store *store.Store
	now   func() time.Time
	// cache avoids a database read per tracking request. A revoked key
	// stops working within cacheTTL in a server that had just used it.
	mu    sync.Mutex
	cache map[string]cachedKey
	// touched is when each key's last use was last written: at most once
	// a minute, so a busy tracking API does not write a row per request.
	touched map[string]time.Time
	audit   *Audit
}

// touchKeyEvery bounds how often a key's last use is written.
const touchKeyEvery = time.Minute

type cachedKey struct {
	key     store.APIKey
	expires time.Time
}

const cacheTTL = 10 * time.Second

// NewKeys returns the key service over s.
func NewKeys(s *store.Store) *Keys {
	return &Keys{store: s, now: func() time.Time { return time.Now().UTC() }, cache: map[string]cachedKey{},
		touched: map[string]time.Time{}}
}

// SetAudit records key creation and revocation in a.
func (k *Keys) SetAudit(a *Audit) { k.audit = a }

// SetClock replaces the clock; for tests.
func (k *Keys) SetClock(now func() time.Time) { k.now = now }

// Create issues a key and returns its secret, which is never stored.
func (k *Keys) Create(ctx context.Context, scope, name string) (store.APIKey, string, error) {
	return k.create(ctx, scope, name, false)
}

// CreateServer issues a server write key: a write key kept on a server,
// which may also set the ProtectedTraits.
func (k *Keys) CreateServer(ctx context.Context, name string) (store.APIKey, string, error) {
	return k.create(ctx, ScopeWrite, name, true)
}

func (k *Keys) create(ctx context.Context, scope, name string, server bool) (store.APIKey, string, error) {
	prefix, ok := keyPrefix[scope]
	if !ok {
		return store.APIKey{}, "", fmt.Errorf("unknown scope %q: use write or admin", scope)
	}
	if server {
		prefix = serverKeyPrefix
	}
	if name == "" {
		name = scope
	}
	if len(name) > 200 {
		return store.APIKey{}, "", errors.New("a key name may be at most 200 characters")
	}
	secret := prefix + randomString(32)
	key := store.APIKey{ID: "key_" + strings.ToLower(randomString(12)), Name: name, Scope: scope, Server: server, CreatedAt: k.now()}
	if err := k.store.CreateKey(ctx, key, HashKey(secret)); err != nil {
		return store.APIKey{}, "", err
	}
	k.audit.Record(ctx, AuditKeyCreated, key.ID, fmt.Sprintf("created %s %q", describeKey(key), key.Name))
	return key, secret, nil
}

func describeKey(key store.APIKey) string {
	if key.Server {
		return "server " + key.Scope + " key"
	}
	return key.Scope + " key"
}

// Revoke revokes a key; a running server stops accepting it within the
// cache's 10 seconds.
func (k *Keys) Revoke(ctx context.Context, id string) error {
	if err := k.store.RevokeKey(ctx, id, k.now()); err != nil {
		return err
	}
	detail := "revoked key"
	if all, err := k.store.ListKeys(ctx); err == nil {
		for _, key := range all {
			if key.ID == id {
				detail = fmt.Sprintf("revoked %s %q", describeKey(key), key.Name)
			}
		}
	}
	k.mu.Lock()
	clear(k.cache) // this server stops accepting it at once
	k.mu.Unlock()
	k.audit.Record(ctx, AuditKeyRevoked, id, detail)
	return nil
}

// Check returns the key for a secret if it exists, is not revoked and has
// exactly the scope asked for: the admin key is not accepted by the
// tracking API, so it need never be put where events are sent from. The
// key's last use is written at most once a minute.
func (k *Keys) Check(ctx context.Context, secret, scope string) (store.APIKey, error) {
	if secret == "" || len(secret) > 200 {
		return store.APIKey{}, ErrInvalidKey
	}
	now := k.now()
	k.mu.Lock()
	c, ok := k.cache[secret]
	k.mu.Unlock()
	if !ok || now.After(c.expires) {
		key, err := k.store.KeyByHash(ctx, HashKey(secret))
		if errors.Is(err, store.ErrNotFound) {
			return store.APIKey{}, ErrInvalidKey
		}
		if err != nil {
			return store.APIKey{}, err
		}
		c = cachedKey{key: key, expires: now.Add(cacheTTL)}
		k.mu.Lock()
		if len(k.cache) > 10000 {
			clear(k.cache)
		}
		k.cache[secret] = c
		k.mu.Unlock()
	}
	if c.key.Scope != scope {
		return store.APIKey{}, fmt.Errorf("this key has scope %q; the request needs %q", c.key.Scope, scope)
	}
	k.touch(ctx, c.key.ID, now)
	return c.key, nil
}

// Bootstrap creates an admin key and a write key when the installation has
// no active key at all (first start) and returns their secrets; otherwise it
// returns nothing, so secrets are shown in clear exactly once.
func (k *Keys) Bootstrap(ctx context.Context) (admin, write string, err error) {
	n, err := k.store.CountKeys(ctx)
	if err != nil || n > 0 {
		return "", "", err
	}
	if _, admin, err = k.Create(ctx, ScopeAdmin, "first admin key"); err != nil {
		return "", "", err
	}
	if _, write, err = k.Create(ctx, ScopeWrite, "first write key"); err != nil {
		return "", "", err
	}
	return admin, write, nil
}

// touch writes a key's last use when it was not written in the last
// minute. A failed write is not the request's failure.
func (k *Keys) touch(ctx context.Context, id string, now time.Time) {
	k.mu.Lock()
	last, ok := k.touched[id]
	due := !ok || now.Sub(last) >= touchKeyEvery
	if due {
		if len(k.touched) > 10000 {
			clear(k.touched)
		}
		k.touched[id] = now
	}
	k.mu.Unlock()
	if due {
		_ = k.store.TouchKey(context.WithoutCancel(ctx), id, now)
	}
}
